"""optimum-quanto packs weights for real: stored bytes drop and the model still runs."""

from __future__ import annotations

import torch

from core.engine.memory import stored_bytes
from core.engine.models import load_model
from core.quantization.quanto import apply_quanto
from core.quantization.targets import target_linears
from core.recipes.quantization import QuantoConfig
from core.techniques.context import ApplyContext

CPU = ApplyContext(device=torch.device("cpu"))


def _target_bytes(model) -> int:
    return sum(stored_bytes(layer) for layer in target_linears(model).values())


def test_int4_stores_the_quantized_layers_in_a_third_of_their_float_bytes():
    tiny = load_model("tiny")
    dense = _target_bytes(tiny.model)
    report = apply_quanto(tiny.model, QuantoConfig(weights="int4"), CPU)
    assert report.execution == "real" and report.modules == 14
    assert _target_bytes(tiny.model) <= 0.35 * dense


def test_int8_model_still_predicts_like_the_float_one():
    tiny = load_model("tiny")
    ids = torch.randint(0, 256, (1, 32), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        reference = tiny.model(ids).logits
        apply_quanto(tiny.model, QuantoConfig(weights="int8"), CPU)
        quantized = tiny.model(ids).logits
    agreement = (reference.argmax(-1) == quantized.argmax(-1)).float().mean()
    assert agreement > 0.9
    assert type(tiny.model.lm_head.weight) is torch.nn.Parameter  # the head stayed float
