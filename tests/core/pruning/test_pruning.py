"""Pruning on tiny models: exact sparsity and valid N:M patterns, calibrated pruners beat
magnitude on layers with loud input channels, SparseGPT's update beats Wanda's plain mask,
and settings that do not fit are refused before anything changes."""

from __future__ import annotations

import copy

import pytest
import torch

import core.pruning  # noqa: F401  (registers the pruners)
from core.engine.models import load_model
from core.pruning.masks import keep_mask, n_of_m
from core.pruning.sparsegpt import sparsegpt_prune
from core.quantization.capture import InputStats
from core.quantization.targets import target_linears
from core.recipes import build_config, config_from_json
from core.recipes.base import InvalidRecipeError
from core.techniques.context import ApplyContext, CalibrationData
from core.techniques.registry import apply

IDS = torch.randint(0, 257, (4, 64), generator=torch.Generator().manual_seed(0))


def _context() -> ApplyContext:
    return ApplyContext(torch.device("cpu"), calibration=CalibrationData(IDS))


def _layer_problem(seed: int = 0):
    """A layer and inputs with a few loud channels, as in real LLM activations."""
    g = torch.Generator().manual_seed(seed)
    weight = torch.randn(48, 64, generator=g)
    x = torch.randn(512, 64, generator=g)
    x[:, :4] *= 20.0
    stats = InputStats.empty(64, torch.device("cpu"))
    stats.add(x)
    return weight, x, stats


def _error(weight, pruned, x) -> float:
    return float((x @ (weight - pruned).T).norm() / (x @ weight.T).norm())


def test_masks_keep_the_requested_share_and_pattern():
    scores = torch.rand(8, 16, generator=torch.Generator().manual_seed(1))
    assert int((~keep_mask(scores, 0.5, "unstructured", per_row=False)).sum()) == 64
    per_row = keep_mask(scores, 0.25, "unstructured", per_row=True)
    assert ((~per_row).sum(1) == 4).all()
    two_of_four = n_of_m(scores, 2, 4)
    assert (two_of_four.reshape(8, 4, 4).sum(2) == 2).all()
    # The kept ones are the best of their group.
    group = scores[0, :4]
    assert set(two_of_four[0, :4].nonzero().flatten().tolist()) == set(
        group.topk(2).indices.tolist()
    )
    with pytest.raises(ValueError, match="divisible by 4"):
        n_of_m(torch.rand(2, 6), 2, 4)


def test_calibrated_pruners_beat_magnitude_and_sparsegpt_beats_wanda():
    weight, x, stats = _layer_problem()
    magnitude = weight * keep_mask(weight.abs(), 0.5, "unstructured", per_row=False)
    norms = torch.diag(stats.gram).sqrt()
    wanda = weight * keep_mask(weight.abs() * norms, 0.5, "unstructured", per_row=True)
    sparse = sparsegpt_prune(
        weight, stats.hessian, sparsity=0.5, pattern="unstructured", damping=0.01, block_size=32
    )
    errors = [_error(weight, w, x) for w in (magnitude, wanda, sparse)]
    assert errors[2] < errors[1] < errors[0]
    assert abs(float((sparse == 0).float().mean()) - 0.5) < 0.01


def test_sparsegpt_two_of_four_keeps_the_pattern_and_beats_magnitude():
    weight, x, stats = _layer_problem(1)
    sparse = sparsegpt_prune(
        weight, stats.hessian, sparsity=0.5, pattern="2:4", damping=0.01, block_size=32
    )
    assert ((sparse != 0).reshape(48, 16, 4).sum(2) <= 2).all()
    magnitude = weight * n_of_m(weight.abs(), 2, 4)
    assert _error(weight, sparse, x) < _error(weight, magnitude, x)


@pytest.mark.parametrize(
    ("recipe", "settings"),
    [
        ("magnitude-pruning", {"sparsity": 0.5}),
        ("wanda", {"sparsity": 0.5, "calibration_samples": 2}),
        ("sparsegpt", {"sparsity": 0.5, "calibration_samples": 2}),
        ("nm-sparsity", {"pattern": "2:4", "method": "sparsegpt", "calibration_samples": 2}),
        ("nm-sparsity", {"pattern": "4:8", "method": "magnitude"}),
    ],
)
def test_recipes_prune_every_target_layer_of_a_model(recipe, settings):
    model = load_model("tiny").model
    before = copy.deepcopy(model)
    report = apply(model, build_config(recipe, settings), _context())
    linears = target_linears(model)
    assert report.modules == len(linears) == 14 and report.execution == "simulated"
    assert abs(report.details["sparsity"] - 0.5) < 0.01
    if "pattern" in settings:
        kept, group = (int(p) for p in settings["pattern"].split(":"))
        for linear in linears.values():
            nonzero = (linear.weight != 0).reshape(linear.out_features, -1, group).sum(2)
            assert (nonzero <= kept).all()
    assert torch.equal(model.lm_head.weight, before.lm_head.weight)  # skipped by default
    with torch.no_grad():
        assert torch.isfinite(model(IDS[:1]).logits).all()


def test_settings_that_do_not_fit_are_refused():
    with pytest.raises(InvalidRecipeError, match="prunes exactly 0.5"):
        build_config("wanda", {"pattern": "2:4", "sparsity": 0.6})
    model = load_model("tiny").model
    before = copy.deepcopy(model)
    with pytest.raises(ValueError, match="block_size 30 must be a multiple of 4"):
        apply(model, build_config("sparsegpt", {"pattern": "2:4", "block_size": 30}), _context())
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), before.parameters()))


def test_pruning_configs_round_trip_through_json():
    for recipe in ("magnitude-pruning", "wanda", "sparsegpt", "nm-sparsity"):
        config = build_config(recipe, {})
        assert config_from_json(config.to_json()) == config


def test_two_of_four_on_a_cpu_is_labelled_simulated_with_the_reason():
    model = load_model("tiny").model
    report = apply(model, build_config("magnitude-pruning", {"pattern": "2:4"}), _context())
    assert report.execution == "simulated"
    assert "NVIDIA GPU" in report.details["simulated_because"]
    nm = apply(
        load_model("tiny").model, build_config("nm-sparsity", {"method": "magnitude"}), _context()
    )
    assert nm.execution == "simulated" and "simulated_because" in nm.details


def _sparse_tensor_cores() -> bool:
    return torch.cuda.is_available() and torch.cuda.get_device_capability() >= (8, 0)


@pytest.mark.skipif(not _sparse_tensor_cores(), reason="needs a GPU with sparse tensor cores")
def test_two_of_four_on_a_capable_gpu_runs_on_sparse_kernels_and_shrinks():
    from torch.sparse import SparseSemiStructuredTensor

    from core.engine.memory import stored_bytes

    loaded = load_model("tiny", device="cuda", dtype="float16")
    model = loaded.model
    ids = torch.randint(0, 200, (4, 64), device="cuda")
    report = apply(
        model,
        build_config("magnitude-pruning", {"pattern": "2:4"}),
        ApplyContext(device=torch.device("cuda")),
    )
    # Reference: the same pruning, left dense.
    dense = load_model("tiny", device="cuda", dtype="float16").model
    for (name, layer), (_, twin) in zip(
        target_linears(model).items(), target_linears(dense).items()
    ):
        if isinstance(layer.weight, SparseSemiStructuredTensor):
            twin.weight.data = layer.weight.to_dense()
    assert report.execution == "real" and report.details["semi_structured_layers"] > 0
    assert stored_bytes(model) < stored_bytes(dense)
    with torch.no_grad():
        assert torch.allclose(model(ids).logits, dense(ids).logits, atol=5e-2, rtol=5e-2)


def test_per_layer_overrides_set_those_layers_sparsity():
    model = load_model("tiny").model
    apply(
        model,
        build_config(
            "magnitude-pruning", {"sparsity": 0.5, "per_layer": ["down_proj=0.2", "q_proj=0"]}
        ),
        _context(),
    )
    for name, linear in target_linears(model, ("lm_head",)).items():
        zeros = float((linear.weight == 0).float().mean())
        expected = 0.2 if "down_proj" in name else 0.0 if "q_proj" in name else 0.5
        assert zeros == pytest.approx(expected, abs=0.01), name


@pytest.mark.parametrize(
    ("settings", "says"),
    [
        ({"per_layer": ["down_proj"]}, "NAME=SHARE"),
        ({"per_layer": ["down_proj=1.5"]}, "NAME=SHARE"),
        ({"pattern": "2:4", "per_layer": ["down_proj=0.3"]}, "unstructured pattern"),
    ],
)
def test_malformed_overrides_are_refused_before_anything_runs(settings, says):
    with pytest.raises(InvalidRecipeError, match=says):
        build_config("wanda", settings)
