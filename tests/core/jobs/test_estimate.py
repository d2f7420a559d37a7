"""The launch page's estimate: a plan of the job's phases, the baseline counted when none is
stored yet, simulated runs not timed, corrected by what recent jobs on the device took."""

from __future__ import annotations

from core.engine.model_shapes import BUNDLED_CONFIG, ModelShape
from core.jobs.estimate import estimate, format_seconds, memory_bytes
from core.jobs.plan import Corrections
from core.jobs.spec import validate_spec

BUNDLED = ModelShape.from_config(BUNDLED_CONFIG).parameters()


def _gptq(**measure):
    return validate_spec({"model": "default", "steps": [{"recipe": "gptq"}], "measure": measure})


def test_the_first_job_on_a_model_counts_its_baseline():
    first = estimate(_gptq(), "cpu", parameters=BUNDLED, baseline_stored=False)
    later = estimate(_gptq(), "cpu", parameters=BUNDLED, baseline_stored=True)
    keys = first.plan.keys()
    assert "baseline.quality" in keys and "baseline.speed" in keys
    assert not any(k.startswith("baseline") for k in later.plan.keys())
    # The baseline's quality and speed passes are most of a minute on the bundled model.
    assert first.seconds - later.seconds > 45


def test_a_simulated_run_is_not_timed_unless_asked():
    auto = estimate(_gptq(), "cpu", parameters=BUNDLED, baseline_stored=True)
    assert "measure.quality" in auto.plan.keys() and "measure.speed" not in auto.plan.keys()
    full = estimate(_gptq(speed="full"), "cpu", parameters=BUNDLED, baseline_stored=True)
    assert "measure.speed" in full.plan.keys() and full.seconds > auto.seconds
    real = validate_spec({"model": "default", "steps": [{"recipe": "w8a8"}]})
    assert "measure.speed" in estimate(real, "cpu", parameters=BUNDLED,
                                       baseline_stored=True).plan.keys()


def test_recent_jobs_on_the_device_correct_the_cost_model():
    plain = estimate(_gptq(), "cpu", parameters=BUNDLED, baseline_stored=False)
    history = [{"plan": [{"key": "step.1", "kind": "step:gptq", "planned_s": 10.0},
                         {"key": "measure.quality", "kind": "quality", "planned_s": 10.0}],
                "phases": {"step.1": 40.0, "measure.quality": 20.0}}]
    learned = estimate(_gptq(), "cpu", parameters=BUNDLED, baseline_stored=False,
                       corrections=Corrections.from_history(history))
    steps = {p.key: p.seconds for p in plain.plan.phases}
    corrected = {p.key: p.seconds for p in learned.plan.phases}
    assert abs(corrected["step.1"] - 4 * steps["step.1"]) < 1e-6
    assert abs(corrected["measure.quality"] - 2 * steps["measure.quality"]) < 1e-6
    # A kind it has not seen takes the median of the others (3x here).
    assert abs(corrected["load"] - 3 * steps["load"]) < 1e-6
    assert "corrected by 1 recent job(s) on cpu" in learned.basis


def test_an_unknown_size_claims_no_time_but_still_plans_phases():
    guess = estimate(_gptq(), "cpu", parameters=None, baseline_stored=False)
    assert guess.seconds is None and guess.memory_bytes is None and guess.plan.phases
    assert "not known" in guess.basis


def test_memory_counts_a_float_copy_for_diagnostics():
    with_copy = memory_bytes(_gptq(), BUNDLED)
    without = memory_bytes(_gptq(diagnostics=False), BUNDLED)
    assert with_copy > without > BUNDLED * 4


def test_durations_read_as_a_person_reads_them():
    assert [format_seconds(s) for s in (0.2, 40, 200, 7200)] == ["1 s", "40 s", "3 min", "2.0 h"]


def test_corrections_learn_only_from_models_of_a_similar_size():
    tiny_history = [{"parameters": 106_944,
                     "plan": [{"key": "step.1", "kind": "step:gptq", "planned_s": 10.0}],
                     "phases": {"step.1": 1.0}}]
    for_bundled = Corrections.from_history(tiny_history, BUNDLED)
    assert for_bundled.jobs == 0 and for_bundled.factor("step:gptq") == 1.0
    for_tiny = Corrections.from_history(tiny_history, 106_944)
    assert for_tiny.jobs == 1 and for_tiny.factor("step:gptq") == 0.1
