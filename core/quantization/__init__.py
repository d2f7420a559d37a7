"""Quantization techniques, one file per recipe (core/quantization/<slug>.py) beside the
shared maths (grid, capture, rescale, int8 layers). Importing this package registers every
one of them."""

from core.quantization import (  # noqa: F401  (registers on import)
    autoround,
    awq,
    bnb_nf4,
    fp8,
    gguf,
    gptq,
    hqq,
    llm_int8,
    quanto,
    rtn,
    smoothquant,
    torchao_int4,
    w8a8,
)
