"""Layers reading one input (q/k/v, gate/up) become one int8 product with the same numbers."""

from __future__ import annotations

import copy

import torch

from core.engine.memory import stored_bytes
from core.engine.models import load_model
from core.quantization.int8_fusion import FusedInt8Linear, Int8LinearPart, shared_input_groups
from core.quantization.targets import target_linears
from core.recipes import build_config
from core.techniques.context import ApplyContext
from core.techniques.registry import apply

CPU = ApplyContext(device=torch.device("cpu"))


def _ids(tokens: int = 12) -> torch.Tensor:
    return torch.randint(0, 256, (2, tokens), generator=torch.Generator().manual_seed(3))


def _logits(model, ids) -> torch.Tensor:
    with torch.no_grad():
        return model(ids).logits


def test_siblings_are_found_by_watching_their_inputs():
    model = load_model("tiny").model
    groups = shared_input_groups(model, target_linears(model, skip=()))
    expected = []
    for i in range(len(model.model.layers)):
        prefix = f"model.layers.{i}"
        expected += [[f"{prefix}.self_attn.q_proj", f"{prefix}.self_attn.k_proj",
                      f"{prefix}.self_attn.v_proj"],
                     [f"{prefix}.mlp.gate_proj", f"{prefix}.mlp.up_proj"]]
    assert sorted(groups) == sorted(expected)


def test_fused_and_separate_int8_models_compute_the_same_logits():
    ids = _ids()
    fused, separate = load_model("tiny").model, load_model("tiny").model
    report = apply(fused, build_config("w8a8", {}), CPU)
    apply(separate, build_config("w8a8", {"fuse": False}), CPU)
    assert report.details["fused_groups"] == 2 * len(fused.model.layers)
    assert isinstance(fused.model.layers[0].self_attn.q_proj, FusedInt8Linear)
    assert isinstance(fused.model.layers[0].mlp.up_proj, Int8LinearPart)
    assert not any(isinstance(m, FusedInt8Linear) for m in separate.modules())
    torch.testing.assert_close(_logits(fused, ids), _logits(separate, ids), rtol=1e-5, atol=1e-5)
    # Decoding one token at a time (the batch-1 path) agrees too.
    with torch.no_grad():
        a = fused.generate(ids[:1, :4], max_new_tokens=6, do_sample=False)
        b = separate.generate(ids[:1, :4], max_new_tokens=6, do_sample=False)
    assert torch.equal(a, b)


def test_weights_are_stored_once_and_parts_hold_none():
    fused, separate = load_model("tiny").model, load_model("tiny").model
    apply(fused, build_config("w8a8", {}), CPU)
    apply(separate, build_config("w8a8", {"fuse": False}), CPU)
    assert stored_bytes(fused) == stored_bytes(separate)
    part = fused.model.layers[0].self_attn.k_proj
    assert stored_bytes(part) == 0 and list(part.buffers()) == []


def test_each_part_returns_what_its_float_layer_would_up_to_int8_error():
    model = load_model("tiny").model
    attention = model.model.layers[0].self_attn
    originals = [copy.deepcopy(attention.k_proj), copy.deepcopy(attention.v_proj)]
    apply(model, build_config("w8a8", {}), CPU)
    x = torch.randn(1, 5, attention.k_proj.in_features)
    with torch.no_grad():
        for original, part in zip(originals, (attention.k_proj, attention.v_proj)):
            exact = original(x)
            got = part(x)
            assert got.shape == exact.shape and got.is_contiguous()
            assert (got - exact).norm() / exact.norm() < 0.03


def test_a_fused_model_can_be_deep_copied_and_still_runs():
    model = load_model("tiny").model
    apply(model, build_config("w8a8", {}), CPU)
    ids = _ids()
    clone = copy.deepcopy(model)
    torch.testing.assert_close(_logits(clone, ids), _logits(model, ids), rtol=0, atol=0)
