"""W8A8 and SmoothQuant on a tiny Llama: smoothing alone keeps the float model, conversion
shrinks it and keeps its outputs close, configs round-trip through JSON."""

from __future__ import annotations

import pytest
import torch

from core.engine.memory import stored_bytes
from core.engine.models import load_model
from core.quantization.int8_linear import Int8Linear
from core.quantization.smoothquant import (
    activation_maxima,
    smooth,
    smoothing_groups,
    smoothing_scales,
)
from core.recipes import build_config, config_from_json
from core.recipes.base import InvalidRecipeError
from core.recipes.quantization import SmoothQuantConfig, W8A8Config
from core.techniques.context import ApplyContext, CalibrationData
from core.techniques.registry import apply

CPU = ApplyContext(device=torch.device("cpu"))


def _ids(seed: int, samples: int = 4, length: int = 32) -> torch.Tensor:
    return torch.randint(0, 256, (samples, length), generator=torch.Generator().manual_seed(seed))


def _calibrated() -> ApplyContext:
    return ApplyContext(device=torch.device("cpu"), calibration=CalibrationData(_ids(1)))


def _logits(model, ids):
    with torch.no_grad():
        return model(ids).logits


def test_smoothing_alone_leaves_the_float_model_unchanged():
    model = load_model("tiny").model
    ids = _ids(2)
    before = _logits(model, ids)
    groups = smoothing_groups(model)
    assert len(groups) == 2 * len(model.model.layers)
    maxima = activation_maxima(model, [linears[0] for _, linears in groups], _ids(1), CPU)
    for (norm, linears), act_max in zip(groups, maxima):
        scales = smoothing_scales(act_max, linears, alpha=0.5)
        assert not torch.allclose(scales, torch.ones_like(scales))  # it really rescaled
        smooth(norm, linears, scales)
    torch.testing.assert_close(_logits(model, ids), before, rtol=1e-4, atol=1e-4)


def test_smoothing_flattens_activation_outlier_channels():
    model = load_model("tiny").model
    norm, linears = smoothing_groups(model)[0]
    with torch.no_grad():
        norm.weight[3] = 50.0  # plant an outlier channel in the first norm's output
    act_max = activation_maxima(model, linears[:1], _ids(1), CPU)[0]
    smooth(norm, linears, smoothing_scales(act_max, linears, alpha=0.5))
    after = activation_maxima(model, linears[:1], _ids(1), CPU)[0]
    spread = lambda peaks: (peaks.max() / peaks.median()).item()  # noqa: E731
    assert spread(after) < 0.5 * spread(act_max)


@pytest.mark.parametrize(
    "config",
    [
        W8A8Config(activations="per_tensor"),
        W8A8Config(activations="per_token"),
        SmoothQuantConfig(calibration_samples=2),
        SmoothQuantConfig(alpha=0.8, activations="per_tensor"),
    ],
    ids=["w8a8-tensor", "w8a8-token", "smoothquant", "smoothquant-tensor"],
)
def test_conversion_shrinks_target_layers_and_keeps_outputs_close(config):
    model = load_model("tiny").model
    ids = _ids(2)
    before_logits = _logits(model, ids)
    before_bytes = {
        name: stored_bytes(m) for name, m in model.named_modules() if isinstance(m, torch.nn.Linear)
    }
    report = apply(model, config, _calibrated())
    assert report.execution == "real" and report.modules == len(before_bytes)
    converted = {name: model.get_submodule(name) for name in before_bytes}
    assert all(
        hasattr(layer, "weight_int8") or hasattr(layer, "owner") for layer in converted.values()
    )
    # Fused siblings keep their weights at the first of them, counted once.
    assert sum(before_bytes.values()) / sum(map(stored_bytes, converted.values())) > 3.5
    assert isinstance(model.lm_head, Int8Linear)  # W8A8 converts the output head by default
    after = _logits(model, ids)
    assert (after - before_logits).norm() / before_logits.norm() < 0.05


def test_smoothquant_needs_calibration():
    assert SmoothQuantConfig.requirements.calibration
    with pytest.raises(InvalidRecipeError, match="calibration"):
        apply(load_model("tiny").model, SmoothQuantConfig(), CPU)


def test_configs_round_trip_through_json():
    for config in (
        W8A8Config(activations="per_tensor", skip=("lm_head", "down_proj")),
        SmoothQuantConfig(alpha=0.65, activations="per_tensor", calibration_samples=8),
    ):
        assert config_from_json(config.to_json()) == config


def test_invalid_settings_are_named():
    with pytest.raises(InvalidRecipeError, match="alpha"):
        build_config("smoothquant", {"alpha": 1.5})
    with pytest.raises(InvalidRecipeError, match="activations"):
        build_config("w8a8", {"activations": "per_channel"})


def test_variants_that_differ_only_in_settings_never_share_a_cached_baseline():
    import torch

    from core.engine.fingerprint import model_fingerprint
    from core.engine.models import load_model
    from core.recipes import build_config
    from core.techniques.context import ApplyContext
    from core.techniques.registry import apply

    fingerprints = set()
    for activations in ("per_tensor", "per_token"):
        loaded = load_model("tiny")
        apply(
            loaded.model,
            build_config("w8a8", {"activations": activations}),
            ApplyContext(device=torch.device("cpu")),
        )
        fingerprints.add(model_fingerprint(loaded))
    fingerprints.add(model_fingerprint(load_model("tiny")))
    assert len(fingerprints) == 3
