"""GGUF types, simulated: the gguf package's own blocks, their bytes on the size axis, and
shapes refused before a job starts."""

from __future__ import annotations

import pytest
import torch

import core.quantization  # noqa: F401  (registers the quantizers)
from core.engine.memory import stored_bytes
from core.engine.model_shapes import ModelShape
from core.engine.models import load_model
from core.quantization.gguf import apply_gguf, gguf_round_trip
from core.quantization.packed_size import packed_size_computed
from core.recipes import build_config
from core.recipes.base import InvalidRecipeError
from core.recipes.quantization import GGUF_QUANT_TYPES, GGUFConfig
from core.techniques.context import ApplyContext

CPU = ApplyContext(device=torch.device("cpu"))
# llama.cpp's block sizes in bytes per 32 weights (ggml's type traits).
BLOCK_BYTES = {"Q8_0": 34, "Q5_1": 24, "Q5_0": 22, "Q4_1": 20, "Q4_0": 18, "MXFP4": 17}


@pytest.mark.parametrize("quant_type", GGUF_QUANT_TYPES)
def test_round_trip_takes_the_formats_bytes_and_keeps_shape_and_dtype(quant_type):
    weight = torch.randn(4, 128, generator=torch.Generator().manual_seed(0))
    restored, nbytes = gguf_round_trip(weight, quant_type)
    assert restored.shape == weight.shape and restored.dtype == weight.dtype
    assert nbytes == 4 * 128 // 32 * BLOCK_BYTES[quant_type]
    assert not torch.equal(restored, weight)


def test_q8_0_rounds_within_half_a_step_of_each_blocks_absmax_scale():
    weight = torch.randn(8, 64, generator=torch.Generator().manual_seed(1))
    restored, _ = gguf_round_trip(weight, "Q8_0")
    step = weight.reshape(8, 2, 32).abs().amax(-1, keepdim=True) / 127
    error = (weight - restored).reshape(8, 2, 32).abs()
    # The scale is stored in float16 (relative error up to 2^-11) and multiplies levels of up
    # to 127: at most 127 * 2^-11 = 0.062 of a step beyond the rounding's half step.
    assert torch.all(error <= step * (0.5 + 127 * 2**-11) + 1e-6)
    assert error.max() > step.min() * 0.3  # it did round


def test_fewer_bits_more_error():
    weight = torch.randn(16, 256, generator=torch.Generator().manual_seed(2))
    errors = {t: (weight - gguf_round_trip(weight, t)[0]).norm().item()
              for t in ("Q8_0", "Q5_0", "Q4_0")}
    assert errors["Q8_0"] < errors["Q5_0"] < errors["Q4_0"]


def test_applying_rounds_the_targets_and_counts_their_blocks_on_the_size_axis():
    tiny = load_model("tiny")
    head = tiny.model.lm_head.weight.clone()
    float_bytes = stored_bytes(tiny.model)
    report = apply_gguf(tiny.model, GGUFConfig(quant_type="Q4_0"), CPU)
    assert report.execution == "simulated" and report.details["bits_per_weight"] == 4.5
    assert torch.equal(tiny.model.lm_head.weight, head)
    packed = packed_size_computed(tiny.model)
    targets = [m for n, m in tiny.model.named_modules()
               if isinstance(m, torch.nn.Linear) and "lm_head" not in n]
    float_target_bytes = sum(m.weight.numel() * m.weight.element_size() for m in targets)
    q4_target_bytes = sum(m.weight.numel() // 32 * 18 for m in targets)
    assert packed == float_bytes - float_target_bytes + q4_target_bytes


def test_a_row_that_does_not_split_into_blocks_is_refused_before_and_during_a_run():
    shape = ModelShape.from_config({"model_type": "llama", "hidden_size": 48,
                                    "intermediate_size": 96, "num_hidden_layers": 1,
                                    "num_attention_heads": 4, "num_key_value_heads": 4,
                                    "vocab_size": 100})
    problems = GGUFConfig().shape_problems(shape)
    assert problems and "32" in problems[0] and "48" in problems[0]
    with pytest.raises(ValueError, match="GGUF blocks hold 32 weights"):
        gguf_round_trip(torch.randn(2, 48), "Q4_0")


def test_unknown_types_are_refused_with_the_choices():
    with pytest.raises(InvalidRecipeError, match="Q8_0"):
        build_config("gguf", {"quant_type": "Q4_K_M"})
