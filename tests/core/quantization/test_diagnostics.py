"""Per-layer diagnostics on a tiny Llama: zero error for identical models, more error for
fewer bits, real int8 kernels and packed quanto layers compared too, planted outlier channels
found, results round-trip through JSON, bad layer names and rescaled models refused."""

from __future__ import annotations

import copy
import json
import math

import pytest
import torch

import core.pruning  # noqa: F401  (registers the structured pruners)
import core.quantization  # noqa: F401  (registers the quantizers)
from core.engine.models import load_model
from core.quantization.diagnostics import (
    LayerDiagnostic,
    RescaledModelError,
    format_diagnostics,
    layer_diagnostics,
)
from core.quantization.targets import target_linears
from core.recipes import build_config
from core.techniques.context import ApplyContext, CalibrationData
from core.techniques.registry import apply

VOCAB = 257  # the tiny model's byte vocabulary plus end-of-text


def _ids(seed: int = 0, samples: int = 3, length: int = 32) -> torch.Tensor:
    return torch.randint(0, VOCAB, (samples, length), generator=torch.Generator().manual_seed(seed))


def _context() -> ApplyContext:
    return ApplyContext(device=torch.device("cpu"), calibration=CalibrationData(_ids(1)))


def _quantized(reference: torch.nn.Module, recipe: str, settings: dict) -> torch.nn.Module:
    model = copy.deepcopy(reference)
    apply(model, build_config(recipe, settings), _context())
    return model


def _by_name(rows: list[LayerDiagnostic]) -> dict[str, LayerDiagnostic]:
    return {row.name: row for row in rows}


@pytest.fixture(scope="module")
def reference() -> torch.nn.Module:
    return load_model("tiny").model


def test_identical_models_have_no_error(reference):
    rows = layer_diagnostics(reference, copy.deepcopy(reference), _ids())
    assert [row.name for row in rows] == list(target_linears(reference, skip=()))  # head included
    assert all(row.relative_error == 0.0 for row in rows)
    assert all(row.tokens == 3 * 32 for row in rows)
    # The very same model on both sides must not recurse through its own hooks.
    assert all(row.relative_error == 0.0 for row in layer_diagnostics(reference, reference, _ids()))


def test_two_bit_rounding_errs_more_than_eight_bit_on_every_layer(reference):
    rtn = lambda bits: _by_name(layer_diagnostics(  # noqa: E731
        reference, _quantized(reference, "rtn", {"bits": bits, "group_size": 32}), _ids()))
    coarse, fine = rtn(2), rtn(8)
    quantized = target_linears(reference)  # RTN leaves the output head in float
    assert coarse["lm_head"].relative_error == fine["lm_head"].relative_error == 0.0
    for name in quantized:
        assert coarse[name].relative_error > 10 * fine[name].relative_error > 0, name
        assert coarse[name].relative_error < 1.0, name


@pytest.mark.parametrize("recipe, settings", [("w8a8", {}), ("quanto", {"weights": "int8"})])
def test_replaced_layers_are_compared_too(reference, recipe, settings):
    quantized = _quantized(reference, recipe, settings)
    # Both recipes swap the float Linear for a module of their own (int8 kernel, packed weight).
    assert type(quantized.get_submodule("model.layers.0.mlp.up_proj")) is not torch.nn.Linear
    rows = layer_diagnostics(reference, quantized, _ids())
    assert len(rows) == len(target_linears(reference, skip=()))
    for row in rows:
        if row.name == "lm_head" and recipe == "quanto":  # quanto skips the head by default
            assert row.relative_error == 0.0
        else:
            assert 0.0 < row.relative_error < 0.05, row


def test_a_planted_outlier_channel_is_found_and_hurts_per_tensor_int8_most():
    reference = load_model("tiny").model
    with torch.no_grad():
        reference.model.layers[0].input_layernorm.weight[3] = 50.0  # q/k/v's input channel 3
    per_tensor = _by_name(layer_diagnostics(
        reference, _quantized(reference, "w8a8", {"activations": "per_tensor"}), _ids()))
    per_token = _by_name(layer_diagnostics(
        reference, _quantized(reference, "w8a8", {"activations": "per_token"}), _ids()))
    for projection in ("q_proj", "k_proj", "v_proj"):
        row = per_tensor[f"model.layers.0.self_attn.{projection}"]
        assert row.max_channel == 3 and row.outlier_ratio > 20
        assert row.max_abs == pytest.approx(row.outlier_ratio * row.median_abs)
    assert per_tensor["model.layers.0.mlp.up_proj"].outlier_ratio < 5  # a different norm
    # One scale per matrix spends its range on the outlier; one per token less so.
    q_proj = "model.layers.0.self_attn.q_proj"
    assert per_tensor[q_proj].relative_error > per_token[q_proj].relative_error


def test_diagnostics_round_trip_through_json(reference):
    rows = layer_diagnostics(reference, _quantized(reference, "rtn", {"bits": 4}), _ids())
    restored = [LayerDiagnostic.from_dict(json.loads(json.dumps(row.to_dict()))) for row in rows]
    assert restored == rows
    broken = LayerDiagnostic("x", 4, 4, math.inf, math.nan, 0, 0.0, 0.0, 0)
    text = json.dumps(broken.to_dict(), allow_nan=False)  # strict JSON holds it
    again = LayerDiagnostic.from_dict(json.loads(text))
    assert again.relative_error == math.inf and math.isnan(again.outlier_ratio)
    with pytest.raises(ValueError, match="unknown LayerDiagnostic fields: \\['extra'\\]"):
        LayerDiagnostic.from_dict({**rows[0].to_dict(), "extra": 1})


def test_missing_layers_are_named(reference):
    quantized = copy.deepcopy(reference)
    del quantized.model.layers[1].mlp.down_proj
    rows = layer_diagnostics(reference, quantized, _ids(samples=1))  # by default, skipped
    assert "model.layers.1.mlp.down_proj" not in _by_name(rows) and len(rows) == 14
    gone = "model.layers.1.mlp.down_proj"
    with pytest.raises(ValueError, match=rf"missing from the quantized model: \['{gone}'\]"):
        layer_diagnostics(reference, quantized, _ids(), names=["lm_head", gone])
    with pytest.raises(ValueError, match=r"not Linear layers of the reference model: \['x.y'\]"):
        layer_diagnostics(reference, quantized, _ids(), names=["x.y"])


@pytest.mark.parametrize(("recipe", "layer"), [("head-pruning", "self_attn.q_proj"),
                                               ("mlp-channel-pruning", "mlp.gate_proj")])
def test_layers_that_structured_pruning_reshaped_are_refused_with_the_reason(reference, recipe,
                                                                             layer):
    pruned = _quantized(reference, recipe, {"fraction": 0.5})
    with pytest.raises(ValueError, match=rf"changed shape.*{layer} \(\d+->\d+ became"):
        layer_diagnostics(reference, pruned, _ids(samples=1))


def test_rescaled_models_are_refused_with_the_reason(reference):
    smoothed = _quantized(reference, "smoothquant", {"calibration_samples": 2})
    with pytest.raises(RescaledModelError,
                       match="input_layernorm.*pass the recipe report's rescales"):
        layer_diagnostics(reference, smoothed, _ids())


@pytest.mark.parametrize(
    ("recipe", "settings"),
    [
        ("smoothquant", {"calibration_samples": 2}),
        ("awq", {"bits": 4, "group_size": 16, "calibration_samples": 2, "grid_points": 4}),
    ],
)
def test_rescaled_models_are_compared_in_their_own_coordinates(reference, recipe, settings):
    model = copy.deepcopy(reference)
    report = apply(model, build_config(recipe, settings), _context())
    assert report.rescales  # the recipe recorded what it folded
    rows = _by_name(layer_diagnostics(reference, model, _ids(), rescales=report.rescales))
    assert set(rows) == set(target_linears(reference, skip=()))
    quantized = [row for name, row in rows.items() if name != "lm_head" or recipe == "smoothquant"]
    # Each layer's own rounding error, small and real; an unrescaled comparison would be
    # dominated by the rescaling (tens of percent), which this guards against.
    assert all(0 < row.relative_error < 0.2 for row in quantized)
    # AWQ keeps the head in float by default: compared in the same coordinates it is exact.
    if recipe == "awq":
        assert rows["lm_head"].relative_error == 0.0
    # The reference passed in is left as it was.
    assert all(
        torch.equal(a, b)
        for a, b in zip(reference.parameters(), load_model("tiny").model.parameters())
    )


def test_names_and_progress_are_honoured(reference):
    seen = []
    rows = layer_diagnostics(
        reference,
        reference,
        _ids(samples=2),
        names=["lm_head"],
        progress=lambda stage, fraction: seen.append((stage, fraction)),
    )
    assert [row.name for row in rows] == ["lm_head"]
    assert seen == [("diagnostics", 0.5), ("diagnostics", 1.0)]


def test_the_table_lists_the_worst_layers_first(reference):
    rows = layer_diagnostics(reference, _quantized(reference, "rtn", {"bits": 2}), _ids())
    table = format_diagnostics(rows, top=3)
    worst = max(rows, key=lambda row: row.relative_error)
    lines = table.splitlines()
    assert lines[0].startswith("layer") and lines[1].startswith(worst.name)
    assert len(lines) == 1 + 3 + 1 and "3 of 15 layers" in lines[-1]
    assert "lm_head" in format_diagnostics(rows, top=None)
    assert format_diagnostics([]) == "no layers"


def test_a_layer_that_never_ran_reports_nan_not_zero(reference):
    with_spare = copy.deepcopy(reference)
    with_spare.spare = torch.nn.Linear(4, 4)  # in the module tree, never called by forward
    rows = _by_name(layer_diagnostics(with_spare, copy.deepcopy(with_spare), _ids(samples=1)))
    assert math.isnan(rows["spare"].relative_error) and rows["spare"].tokens == 0
    assert rows["lm_head"].relative_error == 0.0
    assert format_diagnostics(list(rows.values()), top=1).splitlines()[1].startswith("spare")
