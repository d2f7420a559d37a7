"""LLM.int8()-style decomposition: loud input features go through float, the rest through the
int8 kernel, and that is what rescues a layer whose input has an outlier feature."""

from __future__ import annotations

import pytest
import torch

from core.engine.memory import stored_bytes
from core.engine.models import load_model
from core.quantization.int8_linear import Int8Linear
from core.quantization.llm_int8 import MixedInt8Linear
from core.recipes import build_config, config_from_json
from core.recipes.quantization import LLMInt8Config
from core.techniques.context import ApplyContext
from core.techniques.registry import apply

CPU = ApplyContext(device=torch.device("cpu"))


def _linear(seed: int = 0) -> torch.nn.Linear:
    torch.manual_seed(seed)
    return torch.nn.Linear(64, 32)


def _input_with_outlier_feature(tokens: int = 6) -> torch.Tensor:
    x = torch.randn(tokens, 64, generator=torch.Generator().manual_seed(1))
    x[:, 5] *= 80.0  # one systematically loud feature, as in large transformers
    return x


def test_without_outliers_it_is_plain_per_token_w8a8():
    linear = _linear()
    x = torch.randn(2, 3, 64)  # |x| < 6 almost surely, and a huge threshold makes sure
    mixed = MixedInt8Linear.from_linear(linear, threshold=1e3)
    plain = Int8Linear.from_linear(linear, "per_token")
    with torch.no_grad():
        torch.testing.assert_close(mixed(x), plain(x), rtol=0, atol=0)
    assert mixed.last_outlier_features == 0


def test_threshold_zero_turns_the_split_off_as_in_bitsandbytes():
    linear = _linear()
    x = _input_with_outlier_feature()
    with torch.no_grad():
        off = MixedInt8Linear.from_linear(linear, threshold=0.0)(x)
        plain = Int8Linear.from_linear(linear, "per_token")(x)
    torch.testing.assert_close(off, plain, rtol=0, atol=0)


def test_a_tiny_threshold_keeps_every_feature_in_float():
    linear = _linear()
    layer = MixedInt8Linear.from_linear(linear, threshold=1e-6)
    x = torch.randn(4, 64)
    with torch.no_grad():
        expected = x @ layer.dequantized_weight().T + linear.bias
        torch.testing.assert_close(layer(x), expected, rtol=1e-5, atol=1e-5)
    assert layer.last_outlier_features == 64


def test_decomposition_rescues_a_layer_with_an_outlier_feature():
    linear = _linear()
    x = _input_with_outlier_feature()
    with torch.no_grad():
        exact = linear(x)
        plain = Int8Linear.from_linear(linear, "per_token")(x)
        layer = MixedInt8Linear.from_linear(linear, threshold=6.0)
        mixed = layer(x)
    error = {name: ((out - exact).norm() / exact.norm()).item()
             for name, out in (("plain", plain), ("mixed", mixed))}
    assert layer.last_outlier_features == 1
    assert error["mixed"] < 0.25 * error["plain"]
    assert error["mixed"] < 0.01


def test_the_input_is_not_modified():
    x = _input_with_outlier_feature()
    before = x.clone()
    with torch.no_grad():
        MixedInt8Linear.from_linear(_linear(), threshold=6.0)(x)
    torch.testing.assert_close(x, before, rtol=0, atol=0)


def test_recipe_converts_the_decoder_and_keeps_the_model_close():
    model = load_model("tiny").model
    ids = torch.randint(0, 256, (2, 16), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        before = model(ids).logits
    dense = stored_bytes(model.model.layers)
    report = apply(model, build_config("llm-int8", {}), CPU)
    assert report.execution == "real" and report.details["kernel"] == "torch._int_mm"
    assert isinstance(model.model.layers[0].mlp.down_proj, MixedInt8Linear)
    assert isinstance(model.lm_head, torch.nn.Linear)  # skipped by default
    assert stored_bytes(model.model.layers) < 0.35 * dense
    with torch.no_grad():
        after = model(ids).logits
    assert (after - before).norm() / before.norm() < 0.05


def test_config_round_trips_and_rejects_a_negative_threshold():
    config = LLMInt8Config(threshold=4.5, kernel="torch", skip=("lm_head", "down_proj"))
    assert config_from_json(config.to_json()) == config
    with pytest.raises(ValueError, match="threshold"):
        build_config("llm-int8", {"threshold": -1})
