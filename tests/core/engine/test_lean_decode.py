"""The lean decode path: the same tokens as transformers' greedy generate, its compile kept out
of the timed samples, and a fallback that names the path it took and why."""

from __future__ import annotations

import pytest
import torch
from transformers import DynamicCache

from core.engine import lean_decode as lean
from core.engine.kv import set_cache_factory
from core.engine.measure import measure_model
from core.engine.measure_config import MeasureConfig
from core.engine.speed import generate_decode

NEW_TOKENS = 6


def _lean(tiny, prompts: torch.Tensor, *, repeats: int, compile: bool = True,
          new_tokens: int = NEW_TOKENS):
    """A prepared lean decoder of `prompts`, and its `repeats` timed samples."""
    decoder = lean.LeanDecoder(tiny.model, prompts, new_tokens=new_tokens, device=tiny.device,
                               compile=compile)
    return decoder, decoder.sample(repeats)


def _prompts(batch: int) -> torch.Tensor:
    return torch.randint(0, 200, (batch, 12), generator=torch.Generator().manual_seed(batch))


def _greedy(tiny, prompts: torch.Tensor) -> torch.Tensor:
    # transformers' own greedy generate: the prefill's token and NEW_TOKENS more.
    run = generate_decode(tiny.model, prompts, new_tokens=NEW_TOKENS + 1, device=tiny.device,
                          repeats=1)
    return run.output[:, prompts.shape[1]:].cpu()


@pytest.mark.parametrize("batch", [1, 3])
def test_the_static_path_decodes_what_generate_decodes(tiny, batch):
    prompts = _prompts(batch)
    run, samples = _lean(tiny, prompts, repeats=2, compile=False)
    assert run.path == lean.STATIC_EAGER and "turned off" in run.why
    assert run.first_call_s is None and len(samples) == 2 and run.tokens == batch * NEW_TOKENS
    assert torch.equal(run.output.cpu(), _greedy(tiny, prompts))


def test_the_compiled_step_matches_and_its_compile_stays_out_of_the_samples(tiny):
    prompts = _prompts(1)
    run, samples = _lean(tiny, prompts, repeats=3)
    assert run.path in (lean.COMPILED, lean.GRAPHS) and run.why is None
    # The first call (the compile) is its own figure; the samples are the timed runs only.
    assert run.first_call_s > 0 and len(samples) == 3
    assert torch.equal(run.output.cpu(), _greedy(tiny, prompts))


def test_a_compiler_failure_falls_back_to_the_eager_step_and_says_so(tiny, monkeypatch):
    def broken(self):
        def step(token, position):
            raise RuntimeError("inductor could not lower this op\nmore detail")

        self.step = step
        return lean.COMPILED

    monkeypatch.setattr(lean._StaticDecoder, "compile", broken)
    run, samples = _lean(tiny, _prompts(1), repeats=1)
    assert run.path == lean.STATIC_EAGER and run.first_call_s is None
    assert run.why == "torch.compile failed: RuntimeError: inductor could not lower this op"
    assert torch.equal(run.output.cpu(), _greedy(tiny, _prompts(1)))


def test_a_model_the_static_cache_refuses_is_timed_by_the_eager_loop(tiny, monkeypatch):
    def refuse(*args, **kwargs):
        raise ValueError("this architecture has no static cache")

    monkeypatch.setattr(lean._StaticDecoder, "__init__", refuse)
    run, samples = _lean(tiny, _prompts(2), repeats=1)
    assert run.path == lean.EAGER_LOOP
    assert run.why == "no static KV cache for this model: ValueError: this architecture has no " \
                      "static cache"
    assert torch.equal(run.output.cpu(), _greedy(tiny, _prompts(2)))


def test_a_technique_s_own_cache_is_kept_and_named(tiny):
    set_cache_factory(tiny.model, lambda: DynamicCache(config=tiny.model.config),
                      label="float, for the test")
    run, samples = _lean(tiny, _prompts(1), repeats=1)
    assert run.path == lean.EAGER_LOOP and "float, for the test" in run.why


def test_bad_counts_are_refused(tiny):
    with pytest.raises(ValueError, match="at least 1"):
        _lean(tiny, _prompts(1), repeats=1, new_tokens=0)


def test_a_measurement_shows_the_lean_figure_generate_beside_it_and_the_gap(tiny):
    config = MeasureConfig(eval_windows=1, seq_len=64, prefill_tokens=64, speed_scope="decode_b1",
                           compile_decode=False)
    result = measure_model(tiny, config, use_cache=False)
    metrics = result.metrics
    assert metrics["decode_tok_s_b1"] > 0 and metrics["generate_tok_s_b1"] > 0
    assert metrics["decode_first_call_s"] is None  # nothing was compiled
    assert metrics["overhead_share"] == pytest.approx(1 - metrics["roofline_ratio"])
    assert result.environment["decode_paths"] == {"b1": lean.STATIC_EAGER}
    assert any("turned off" in note for note in result.notes)
    assert "transformers generate" in result.protocol["speed"]["decode_order"]
    assert "decode timed on: b1 static cache, eager" in result.table()


@pytest.mark.parametrize(("recipe", "settings"), [
    ("layer-drop", {"fraction": 0.5, "keep_first_and_last": False}),
    ("head-pruning", {"fraction": 0.5}),
    ("mlp-channel-pruning", {"fraction": 0.5}),
    ("w8a8", {}),
])
def test_compressed_models_decode_on_the_same_static_path(recipe, settings):
    import core.pruning  # noqa: F401  (registers the pruners)
    import core.quantization  # noqa: F401  (registers the quantizers)
    from core.engine.models import load_model
    from core.recipes import build_config
    from core.techniques.context import ApplyContext, CalibrationData
    from core.techniques.registry import apply

    tiny = load_model("tiny")
    calibration = CalibrationData(torch.randint(0, 200, (2, 16),
                                                generator=torch.Generator().manual_seed(7)))
    apply(tiny.model, build_config(recipe, settings),
          ApplyContext(tiny.device, calibration=calibration))
    prompts = _prompts(2)
    run, samples = _lean(tiny, prompts, repeats=1, compile=False)
    assert run.path == lean.STATIC_EAGER
    assert torch.equal(run.output.cpu(), _greedy(tiny, prompts))
