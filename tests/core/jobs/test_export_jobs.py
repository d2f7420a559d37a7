"""Export jobs through the queue: a finished job's model rebuilt, written, read back and
scored; the artifact, with its read-back perplexity, belongs to the job exported; jobs that
have no model to export are refused before anything is queued; the CLI reports the file."""

from __future__ import annotations

import pytest

from core.engine.results import Measurement
from core.jobs import states, store
from core.jobs.export_jobs import export_spec, submit_export
from core.jobs.results import add_job_result, job_result
from core.jobs.spec import InvalidJobError
from core.jobs.worker import JobWorker
from db.engine import transaction
from db.job_models import Artifact

QUICK = {"eval_windows": 1, "speed": "none", "diagnostics": False}
PACKED_GPTQ = [{"recipe": "gptq", "settings": {"bits": 4, "group_size": 32,
                                                "static_groups": True, "pack": "cpu_int4"}}]


def _finished(engine, steps) -> int:
    job_id = store.submit(engine, {"model": "tiny", "steps": steps, "device": "cpu",
                                   "measure": QUICK})
    assert JobWorker(engine, "cpu").run_one(job_id) == states.SUCCEEDED
    return job_id


def _artifacts(engine, job_id) -> list[Artifact]:
    with transaction(engine) as session:
        return list(session.query(Artifact).filter_by(job_id=job_id))


def test_an_export_job_rebuilds_writes_and_reads_back_the_jobs_model(engine):
    job_id = _finished(engine, PACKED_GPTQ)
    ppl = next(m.value for m in job_result(engine, job_id).metrics if m.name == "ppl")
    export_id = submit_export(engine, job_id, "gguf")
    assert submit_export(engine, job_id, "gguf") == export_id  # queued once
    spec = store.spec_of(store.get_job(engine, export_id))
    assert spec.export.reference_ppl == ppl and spec.steps == store.spec_of(
        store.get_job(engine, job_id)).steps
    assert JobWorker(engine, "cpu").run_one(export_id) == states.SUCCEEDED
    [artifact] = _artifacts(engine, job_id)
    check = artifact.details["readback"]
    assert artifact.format == "gguf" and artifact.path.endswith("model.gguf")
    # The same grid, rebuilt deterministically: the file reads back to the job's figure.
    assert abs(check["change"]) < 0.01 and check["within_tolerance"]
    assert job_result(engine, export_id) is None  # an export measures no new result
    # Exporting again replaces the record of the same file rather than adding a second.
    again = submit_export(engine, job_id, "gguf")
    assert JobWorker(engine, "cpu").run_one(again) == states.SUCCEEDED
    assert len(_artifacts(engine, job_id)) == 1


def test_jobs_without_a_model_to_export_are_refused_with_the_reason(engine):
    with pytest.raises(InvalidJobError, match="there is no job 99"):
        export_spec(engine, 99, "gguf")
    baseline = _finished(engine, [])
    with pytest.raises(InvalidJobError, match="no steps"):
        export_spec(engine, baseline, "gguf")
    queued = store.submit(engine, {"model": "tiny", "device": "cpu", "measure": QUICK,
                                   "steps": PACKED_GPTQ})
    with pytest.raises(InvalidJobError, match="is queued"):
        export_spec(engine, queued, "gguf")
    with pytest.raises(InvalidJobError, match="unknown export format 'onnx'"):
        export_spec(engine, queued, "onnx")
    w8a8 = _finished(engine, [{"recipe": "w8a8", "settings": {}}])
    with pytest.raises(InvalidJobError, match="GGUF holds weights only"):
        export_spec(engine, w8a8, "gguf")
    assert export_spec(engine, w8a8, "compressed-tensors").export.of_job == w8a8


def test_an_export_the_format_cannot_hold_fails_with_the_reason(engine):
    job_id = _finished(engine, [{"recipe": "gptq", "settings": {"bits": 4, "group_size": 32,
                                                                "act_order": True}}])
    export_id = submit_export(engine, job_id, "compressed-tensors")
    assert JobWorker(engine, "cpu").run_one(export_id) == states.FAILED
    failed = store.get_job(engine, export_id)
    assert "static_groups" in failed.error_message
    assert _artifacts(engine, job_id) == []


def test_the_cli_exports_a_job_and_prints_the_file_and_its_check(engine, capsys):
    from app.cli import main

    job_id = _finished(engine, [{"recipe": "rtn", "settings": {"bits": 4, "group_size": 32}}])
    assert main(["export", str(job_id), "--format", "compressed-tensors"]) == 0
    out = capsys.readouterr().out
    assert "compressed-tensors · " in out and "read back by compressed-tensors" in out
    assert main(["export", "12345", "--format", "gguf"]) == 2
    assert "Not exported: there is no job 12345" in capsys.readouterr().err


def test_a_job_of_infinite_perplexity_is_not_exported_on_either_store(backend_engine):
    # Its export request would carry reference_ppl=inf in a JSON column, which PostgreSQL
    # refuses (SQLite stored it); and no read-back can be checked against it.
    engine = backend_engine
    job_id = store.submit(engine, {"model": "tiny", "device": "cpu", "measure": QUICK,
                                   "steps": [{"recipe": "rtn", "settings": {"bits": 2}}]})
    lease = store.claim_next(engine, "cpu", "w1")
    broken = Measurement(name="rtn", model="tiny", model_key="tiny:tiny", device="cpu",
                         device_name="cpu", dtype="float32", execution="real",
                         metrics={"ppl": float("inf")})
    assert store.finish(engine, lease, states.SUCCEEDED, before_commit=lambda session:
                        add_job_result(session, job_id, broken, model_ref="tiny", recipe=[]))
    with pytest.raises(InvalidJobError, match=f"job {job_id} measured a perplexity of inf"):
        submit_export(engine, job_id, "compressed-tensors")
    assert [job.id for job in store.list_jobs(engine)] == [job_id]
