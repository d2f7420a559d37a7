"""Quantization techniques. Importing this package registers every one of them."""

from core.quantization import quanto, rtn  # noqa: F401  (registration happens on import)
