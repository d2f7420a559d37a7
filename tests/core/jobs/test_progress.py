"""A running job's progress: one fraction of the whole, weighed by the plan, that only grows,
and the seconds each phase really took."""

from __future__ import annotations

from core.engine.model_shapes import BUNDLED_CONFIG, ModelShape
from core.jobs.estimate import estimate
from core.jobs.progress import ProgressTracker
from core.jobs.spec import validate_spec

# The stages the runner reports for a first GPTQ job on a model, as they come.
STAGES = [
    ("loading model", 0.0), ("baseline: data", 0.0), ("baseline: quality", 0.5),
    ("baseline: quality", 1.0), ("baseline: kv_cache", 0.0), ("baseline: prefill", 0.0),
    ("baseline: ttft", 0.0), ("baseline: decode_b1", 0.0), ("baseline: decode_b8", 0.0),
    ("baseline: bandwidth", 0.0), ("baseline: done", 1.0), ("baseline outputs", 0.0),
    ("calibration data", 0.0), ("step 1/1 gptq: gptq", 0.0), ("step 1/1 gptq: gptq", 0.5),
    ("step 1/1 gptq: gptq", 1.0), ("measure: data", 0.0), ("measure: quality", 0.3),
    ("measure: quality", 1.0), ("measure: kv_cache", 0.0), ("measure: done", 1.0),
    ("diagnostics", 0.5), ("diagnostics", 1.0),
]


class _Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def _tracker(clock=None):
    spec = validate_spec({"model": "default", "steps": [{"recipe": "gptq"}]})
    plan = estimate(spec, "cpu", parameters=ModelShape.from_config(BUNDLED_CONFIG).parameters(),
                    baseline_stored=False).plan
    return ProgressTracker(plan, clock or _Clock())


def test_the_fraction_only_grows_and_reaches_the_end():
    tracker = _tracker()
    seen = [tracker.update(stage, within) for stage, within in STAGES]
    assert seen == sorted(seen)
    assert seen[-1] > 0.99
    # The baseline is a large part of a first job: its end is well past the start and
    # nowhere near the end (the bar does not show 55 % and then fall back to 0 %).
    after_baseline = seen[STAGES.index(("baseline: done", 1.0))]
    assert 0.2 < after_baseline < 0.8


def test_a_stored_baseline_skips_ahead_without_going_back():
    tracker = _tracker()
    tracker.update("loading model", 0.0)
    jumped = tracker.update("step 1/1 gptq: gptq", 0.0)
    assert jumped > 0.2 and tracker.update("baseline: quality", 0.1) == jumped


def test_phases_record_the_seconds_they_took():
    clock = _Clock()
    tracker = _tracker(clock)
    for stage, within in STAGES:
        tracker.update(stage, within)
        clock.now += 1.0
    record = tracker.finish()
    assert record["phases"]["step.1"] == 3.0 and record["phases"]["load"] == 1.0
    assert {p["key"] for p in record["plan"]} >= set(record["phases"])
