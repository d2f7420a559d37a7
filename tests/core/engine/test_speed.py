"""Timing helpers: warm-up, repeats, median and spread."""

from __future__ import annotations

import time

import pytest
import torch

from core.engine.cost import Stopwatch
from core.engine.speed import Timing, decode_timing, time_repeated, tokens_per_second


def test_time_repeated_warms_up_then_takes_each_sample():
    calls = []
    timing = time_repeated(lambda: calls.append(1), device=torch.device("cpu"), repeats=5, warmup=2)
    assert len(calls) == 7 and len(timing.samples) == 5


def test_median_and_interquartile_range():
    timing = Timing((1.0, 2.0, 3.0, 4.0, 100.0))
    assert timing.median == 3.0
    assert timing.iqr == pytest.approx(2.0)
    rate, spread = tokens_per_second(Timing((0.5, 0.5, 1.0)), tokens=10)
    assert rate == 20.0 and spread > 0


def test_decode_timing_generates_on_a_tiny_model(tiny):
    prompts = torch.randint(0, 200, (2, 8))
    timing = decode_timing(tiny.model, prompts, new_tokens=4, device=tiny.device, repeats=3)
    assert len(timing.samples) == 3 and all(s > 0 for s in timing.samples)


def test_stopwatch_times_the_block():
    with Stopwatch(torch.device("cpu")) as watch:
        time.sleep(0.02)
    assert 0.015 < watch.seconds < 1.0


def test_repeats_must_be_positive():
    with pytest.raises(ValueError, match="at least 1"):
        time_repeated(lambda: None, device=torch.device("cpu"), repeats=0)


def test_generate_decode_times_the_steps_after_the_first_and_counts_calls(tiny):
    from core.engine.speed import generate_decode

    prompts = torch.randint(0, 200, (3, 8))
    run = generate_decode(tiny.model, prompts, new_tokens=6, device=tiny.device, repeats=2)
    assert len(run.timing.samples) == 2 and all(s > 0 for s in run.timing.samples)
    assert run.tokens == 3 * 5  # six new tokens, the first of which ends the prefill step
    assert run.output.shape == (3, 14) and run.generated == 6
    assert run.target_calls == 6 and run.proposed is None and run.acceptance_rate is None
    # The same tokens as the engine's own greedy loop would choose.
    with torch.no_grad():
        expected = tiny.model.generate(prompts, max_new_tokens=6, do_sample=False)
    assert torch.equal(run.output, expected)
