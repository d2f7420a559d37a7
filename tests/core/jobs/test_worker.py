"""A worker runs jobs end to end on a tiny model: results recorded once, the baseline measured
once and shared, failures classified with advice, cancel honoured at a step boundary."""

from __future__ import annotations

from sqlalchemy import func, select

from core.jobs import states, store
from core.jobs.results import BASELINE, job_result, list_results, to_measurement
from core.jobs.worker import JobWorker
from db.engine import transaction
from db.job_models import Result

QUICK = {"eval_windows": 1, "speed": "none", "diagnostics": True}


def _job(engine, steps, **extra) -> int:
    return store.submit(engine, {"model": "tiny", "steps": steps, "device": "cpu",
                                 "measure": QUICK, **extra})


def _run(engine, job_id) -> str:
    return JobWorker(engine, "cpu").run_one(job_id)


def test_a_job_runs_and_records_its_result_and_a_shared_baseline(engine):
    first = _job(engine, [{"recipe": "rtn", "settings": {"bits": 4, "group_size": 16}}])
    assert _run(engine, first) == states.SUCCEEDED
    job = store.get_job(engine, first)
    assert (job.status, job.attempt, job.progress_fraction) == (states.SUCCEEDED, 1, 1.0)
    assert "job %d succeeded" % first in job.log_tail
    result = to_measurement(job_result(engine, first))
    assert result.execution == "simulated" and result.metrics["ppl"] > 0
    assert result.metrics["kl"] > 0 and 0 < result.metrics["top1_agreement"] <= 1
    assert result.metrics["compression_s"] > 0
    # Simulated, so stored in float; its packed size is computed, said so, and far smaller.
    assert result.metrics["packed_bytes_computed"] < result.metrics["stored_bytes"] / 2
    assert any(note.startswith("packed size, computed") for note in result.notes)
    rows = job_result(engine, first).diagnostics
    assert rows and all(0 < row["relative_error"] < 1 for row in rows if row["name"] != "lm_head")
    second = _job(engine, [{"recipe": "w8a8", "settings": {}}])
    assert _run(engine, second) == states.SUCCEEDED
    assert to_measurement(job_result(engine, second)).execution == "real"
    baselines = list_results(engine, kinds=(BASELINE,))
    assert len(baselines) == 1  # measured by the first job, reused by the second
    assert "reusing the stored measurement" in store.get_job(engine, second).log_tail


def test_a_setting_that_does_not_fit_the_model_fails_with_advice(engine):
    # 48 does not divide the tiny model's 64 input features.
    job_id = _job(engine, [{"recipe": "rtn", "settings": {"group_size": 48}}])
    assert _run(engine, job_id) == states.FAILED
    job = store.get_job(engine, job_id)
    assert job.error_kind == "bad_config" and "48" in job.error_message
    assert job_result(engine, job_id) is None


def test_an_unknown_model_fails_as_model_not_found(engine, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    job_id = store.submit(engine, {"model": "no-such-org/no-such-model", "device": "cpu",
                                   "measure": QUICK})
    assert _run(engine, job_id) == states.FAILED
    job = store.get_job(engine, job_id)
    assert job.error_kind == "model_not_found" and "no-such-org/no-such-model" in job.error_message


def test_cancel_is_honoured_at_the_next_step(engine, monkeypatch):
    import core.jobs.runner as runner

    job_id = _job(engine, [{"recipe": "rtn", "settings": {"bits": 8}},
                           {"recipe": "rtn", "settings": {"bits": 4}}])
    applied = []
    real_apply = runner.apply

    def apply_then_cancel(model, config, context):
        applied.append(config.bits)
        report = real_apply(model, config, context)
        store.request_cancel(engine, job_id)  # the user presses cancel during step 1
        return report

    monkeypatch.setattr(runner, "apply", apply_then_cancel)
    assert _run(engine, job_id) == states.CANCELLED
    assert applied == [8]  # step 2 never started
    job = store.get_job(engine, job_id)
    assert job.error_message == "cancelled at a step boundary"
    with transaction(engine) as session:
        assert session.scalar(select(func.count()).select_from(Result)
                              .where(Result.job_id == job_id)) == 0


def test_a_step_that_ignores_cancel_is_stopped_after_the_grace_period(engine, monkeypatch):
    import threading

    import core.jobs.runner as runner
    import core.jobs.worker as worker_module

    job_id = _job(engine, [{"recipe": "rtn", "settings": {"bits": 8}}])
    exited = threading.Event()
    codes = []

    def fake_exit(code):  # the real one ends the process; here it releases the stuck step
        codes.append(code)
        exited.set()

    def stuck_apply(model, config, context):
        store.request_cancel(engine, job_id)
        exited.wait(30)  # a kernel that never checks for cancel
        raise RuntimeError("released")

    monkeypatch.setattr(worker_module.os, "_exit", fake_exit)
    monkeypatch.setattr(runner, "apply", stuck_apply)
    JobWorker(engine, "cpu", heartbeat_s=0.05, cancel_grace_s=0.3).run_one(job_id)
    assert codes == [worker_module.FORCED_EXIT]
    job = store.get_job(engine, job_id)
    assert job.status == states.CANCELLED
    assert "stopped after the grace period" in job.error_message


def test_a_job_past_its_time_limit_fails_as_timeout(engine, monkeypatch):
    import time

    import core.jobs.runner as runner

    job_id = _job(engine, [{"recipe": "rtn", "settings": {"bits": 8}},
                           {"recipe": "rtn", "settings": {"bits": 4}}], time_limit_s=0.2)
    real_apply = runner.apply

    def slow_apply(model, config, context):
        time.sleep(0.5)  # past the limit; the watchdog flags it, the next boundary stops it
        return real_apply(model, config, context)

    monkeypatch.setattr(runner, "apply", slow_apply)
    assert JobWorker(engine, "cpu", heartbeat_s=0.05).run_one(job_id) == states.FAILED
    job = store.get_job(engine, job_id)
    assert job.error_kind == "timeout" and "time limit of 0 s" not in job.error_message
    assert "time limit" in job.error_message


def test_a_saved_model_lands_complete_with_its_model_card(engine, isolated_home):
    from core.jobs.artifacts import job_folder

    job_id = _job(engine, [{"recipe": "rtn", "settings": {"bits": 4, "group_size": 16}}],
                  save_model=True)
    assert _run(engine, job_id) == states.SUCCEEDED
    folder = job_folder(job_id)
    assert (folder / "model.safetensors").is_file() and (folder / "config.json").is_file()
    card = (folder / "README.md").read_text()
    assert "rtn(bits=4,group_size=16)" in card and "| ppl |" in card and "simulated" in card
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".")]  # no partials
    from sqlalchemy.orm import selectinload

    from db.job_models import Job

    with transaction(engine) as session:
        artifacts = session.get(Job, job_id, options=[selectinload(Job.artifacts)]).artifacts
    assert [(a.path, a.format) for a in artifacts] == [(str(folder), "safetensors")]
    assert artifacts[0].bytes > 0


def test_model_loading_messages_reach_the_log(engine, monkeypatch):
    import core.jobs.runner as runner

    real_load = runner.load_model

    def load_with_message(ref, *, device, dtype, progress):
        # The bundled model reports its one-time GGUF conversion like this.
        progress("converting the bundled GGUF to a float checkpoint, once")
        return real_load("tiny", device=device, dtype=dtype)

    monkeypatch.setattr(runner, "load_model", load_with_message)
    job_id = _job(engine, [{"recipe": "rtn", "settings": {"bits": 8}}])
    assert _run(engine, job_id) == states.SUCCEEDED
    assert "converting the bundled GGUF" in store.get_job(engine, job_id).log_tail


def test_a_width_pruned_model_succeeds_with_a_note_instead_of_per_layer_diagnostics(engine):
    # The Launch form's defaults ask for diagnostics; heads removed mean layers of another
    # shape, whose outputs cannot be compared with the float layers'.
    job_id = _job(engine, [{"recipe": "head-pruning", "settings": {"fraction": 0.5}}])
    assert _run(engine, job_id) == states.SUCCEEDED
    result = job_result(engine, job_id)
    assert result.diagnostics is None
    assert any("per-layer diagnostics not available" in note and "changed shape" in note
               for note in to_measurement(result).notes)


def test_a_stacked_recipe_prunes_then_distils_then_quantizes(engine):
    job_id = _job(engine, [
        {"recipe": "layer-drop", "settings": {"fraction": 0.5, "keep_first_and_last": False,
                                              "calibration_samples": 2}},
        {"recipe": "logit-distillation", "settings": {"steps": 3, "seq_len": 64,
                                                      "batch_size": 2}},
        {"recipe": "w8a8", "settings": {}},
    ])
    assert _run(engine, job_id) == states.SUCCEEDED
    log = store.get_job(engine, job_id).log_tail
    assert "step 1/3 layer-drop" in log and "step 2/3 logit-distillation" in log
    assert "step 3/3 w8a8: changed" in log
    result = to_measurement(job_result(engine, job_id))
    assert result.execution == "real"  # every step really changed what runs
    baseline = list_results(engine, kinds=(BASELINE,))[0]
    stored = {m.name: m.value for m in baseline.metrics}["stored_bytes"]
    assert result.metrics["stored_bytes"] < stored / 2  # one layer of two gone, the rest int8


def test_a_speculative_job_records_acceptance_output_match_and_speedup(engine):
    job_id = store.submit(engine, {
        "model": "tiny", "device": "cpu",
        "steps": [{"recipe": "speculative-decoding",
                   "settings": {"draft_layers_kept": 0.5, "calibration_samples": 2}}],
        "measure": {"eval_windows": 1, "speed": "decode_b1"}})
    assert _run(engine, job_id) == states.SUCCEEDED
    result = to_measurement(job_result(engine, job_id))
    assert result.execution == "real"
    assert result.metrics["output_matches"] == 1.0
    assert 0 <= result.metrics["acceptance_rate"] <= 1
    assert result.metrics["decode_speedup_b1"] > 0
    assert any(note.startswith("decoding: speculative decoding") for note in result.notes)
    baseline = list_results(engine, kinds=(BASELINE,))[0]
    assert job_result(engine, job_id).protocol_hash == baseline.protocol_hash
