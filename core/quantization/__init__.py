"""Quantization techniques. Importing this package registers every one of them."""

from core.quantization import awq, gptq, llm_int8, quanto, rtn, w8a8  # noqa: F401  (registers on import)
