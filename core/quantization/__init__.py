"""Quantization techniques. Importing this package registers every one of them."""

from core.quantization import (  # noqa: F401  (registers on import)
    awq, bnb, gptq, llm_int8, quanto, rtn, torchao_formats, w8a8,
)
