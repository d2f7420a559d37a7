"""The queue's state machine: validation before queueing, compare-and-set claims that a race
cannot double, leases that a stale worker cannot use, cancel, retry and the reaper."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from core.jobs import states, store
from core.jobs.spec import InvalidJobError
from db.engine import transaction
from db.job_models import Job

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def engine(backend_engine):
    """Every test here runs on SQLite and on PostgreSQL."""
    return backend_engine


RTN = {"model": "tiny", "steps": [{"recipe": "rtn", "settings": {"bits": 4}}], "device": "cpu"}
# A well-formed Hub id with a revision, longer than jobs.model_ref holds (300).
LONG_HUB_REF = "o" * 96 + "/" + "n" * 96 + "@" + "r" * 111


def _count(engine) -> int:
    with transaction(engine) as session:
        return session.scalar(select(func.count()).select_from(Job))


@pytest.mark.parametrize(("spec", "says"), [
    ({**RTN, "steps": [{"recipe": "nope"}]}, "step 1: unknown recipe 'nope'"),
    ({**RTN, "steps": [{"recipe": "rtn", "settings": {"bits": 1}}]}, "bits"),
    ({**RTN, "steps": [{"recipe": "rtn", "settings": {"colour": 1}}]}, "colour"),
    ({**RTN, "model": "not a model!"}, "model:"),
    ({**RTN, "device": "tpu"}, "device 'tpu'"),
    ({**RTN, "device": "cpu\n"}, "is not auto, cpu, cuda, cuda:N or cuda@TYPE"),
    ({**RTN, "device": "cuda@"}, "is not auto, cpu, cuda, cuda:N or cuda@TYPE"),
    ({**RTN, "steps": [{"recipe": "bnb-nf4"}]}, "needs a CUDA GPU"),
    ({**RTN, "measure": {"eval_windows": 0}}, "eval_windows"),
    ({**RTN, "surprise": True}, "surprise"),
    # What PostgreSQL refuses to store is refused on every store, before anything is written.
    ({**RTN, "label": "mine\x00"}, "label: cannot contain control characters"),
    ({**RTN, "technique_slug": "rtn\x00"}, "technique_slug: cannot contain control"),
    ({**RTN, "model": LONG_HUB_REF}, "at most 300 characters"),
    ({**RTN, "steps": [{"recipe": "prompt-lookup-decoding"}], "measure": {"speed": "none"}},
     "changes only how the model runs"),
    ({**RTN, "steps": [{"recipe": "speculative-decoding",
                        "settings": {"draft_layers_kept": 1.5}}]}, "draft_layers_kept"),
])
def test_a_bad_job_is_rejected_before_it_is_queued(engine, spec, says):
    with pytest.raises(InvalidJobError, match=says):
        store.submit(engine, spec)
    assert _count(engine) == 0


def test_submit_queues_the_validated_job(engine):
    job_id = store.submit(engine, RTN, owner_session="s1")
    job = store.get_job(engine, job_id)
    assert (job.status, job.attempt, job.device, job.model_ref) == (states.QUEUED, 0, "cpu", "tiny")
    assert job.recipe == [{"recipe": "rtn", "settings": {"bits": 4}}]
    # The given settings, and the defining ones at their defaults: which RTN ran.
    assert job.label == "rtn(bits=4,group_size=64)" and job.owner_session == "s1"
    assert store.spec_of(job).steps[0].settings == {"bits": 4}


def test_auto_device_is_the_cpu_when_no_gpu_worker_is_alive(engine):
    job = store.get_job(engine, store.submit(engine, {**RTN, "device": "auto"}))
    assert job.device == "cpu"


def test_racing_workers_claim_a_job_exactly_once(engine):
    ids = [store.submit(engine, RTN) for _ in range(3)]
    claims: list = []
    barrier = threading.Barrier(6)

    def claim(n: int) -> None:
        barrier.wait()
        claims.append(store.claim_next(engine, "cpu", f"w{n}"))

    threads = [threading.Thread(target=claim, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    won = [lease for lease in claims if lease is not None]
    assert sorted(lease.job_id for lease in won) == ids  # each job once, none twice
    assert all(store.get_job(engine, i).status == states.RUNNING for i in ids)
    assert store.claim_next(engine, "cpu", "late") is None


# A worker process that claims jobs from the moment given until the queue is empty, and
# prints the ids it took.
CLAIMING_PROCESS = """
import sys, time
from core.jobs import store
from db.engine import make_engine
engine = make_engine()
engine.connect().close()
time.sleep(max(0.0, float(sys.argv[2]) - time.time()))
taken = []
while (lease := store.claim_next(engine, "cpu", sys.argv[1])) is not None:
    taken.append(lease.job_id)
print(" ".join(map(str, taken)))
"""


def test_worker_processes_racing_on_one_database_take_each_job_once(engine):
    ids = [store.submit(engine, RTN) for _ in range(80)]
    start_at = time.time() + 4  # every process connected and waiting by then
    processes = [subprocess.Popen([sys.executable, "-c", CLAIMING_PROCESS, f"p{n}",
                                   str(start_at)], cwd=ROOT, env=os.environ.copy(),
                                  stdout=subprocess.PIPE, text=True) for n in range(4)]
    taken = {f"p{n}": [int(i) for i in process.communicate(timeout=120)[0].split()]
             for n, process in enumerate(processes)}
    assert all(process.returncode == 0 for process in processes)
    assert sorted(i for ids_taken in taken.values() for i in ids_taken) == ids
    assert sum(1 for ids_taken in taken.values() if ids_taken) >= 2  # they really raced
    for owner, ids_taken in taken.items():  # the row names the process that took it
        assert all(store.get_job(engine, i).lease_owner == owner for i in ids_taken)


def test_workers_claim_only_their_device(engine):
    store.submit(engine, RTN)
    assert store.claim_next(engine, "cuda:0", "gpu-worker") is None
    assert store.claim_next(engine, "cpu", "cpu-worker") is not None


def test_a_stale_lease_changes_nothing(engine):
    job_id = store.submit(engine, RTN)
    first = store.claim_next(engine, "cpu", "w1")
    assert store.reap(engine, stale_after_s=0.0) == [job_id]  # its heartbeat is "old"
    store.retry(engine, job_id)
    second = store.claim_next(engine, "cpu", "w2")
    assert second.attempt == first.attempt + 1
    # The first worker wakes up: every write under its old lease misses.
    assert store.heartbeat(engine, first).held is False
    assert store.report_progress(engine, first, "x", 0.5) is False
    assert store.finish(engine, first, states.SUCCEEDED) is False
    job = store.get_job(engine, job_id)
    assert (job.status, job.lease_owner, job.attempt) == (states.RUNNING, "w2", 2)
    assert store.finish(engine, second, states.SUCCEEDED) is True
    assert store.get_job(engine, job_id).status == states.SUCCEEDED


def test_finish_runs_the_callers_writes_only_when_the_lease_holds(engine):
    job_id = store.submit(engine, RTN)
    lease = store.claim_next(engine, "cpu", "w1")
    seen = []
    assert store.finish(engine, lease, states.FAILED, error_kind="crash", message="boom",
                        before_commit=seen.append)
    assert len(seen) == 1
    assert store.finish(engine, lease, states.SUCCEEDED, before_commit=seen.append) is False
    assert len(seen) == 1
    job = store.get_job(engine, job_id)
    assert (job.status, job.error_kind, job.error_message) == (states.FAILED, "crash", "boom")
    with pytest.raises(ValueError, match="succeeded, failed or cancelled"):
        store.finish(engine, lease, states.INTERRUPTED)


def test_cancel_a_queued_job_at_once_and_a_running_one_by_request(engine):
    queued = store.submit(engine, RTN)
    assert store.request_cancel(engine, queued) == states.CANCELLED
    assert store.get_job(engine, queued).status == states.CANCELLED
    running = store.submit(engine, RTN)
    lease = store.claim_next(engine, "cpu", "w1")
    assert store.request_cancel(engine, running) == "cancelling"
    state = store.heartbeat(engine, lease)
    assert state.held and state.cancel_requested and state.cancel_requested_at is not None
    assert store.finish(engine, lease, states.CANCELLED)
    with pytest.raises(store.JobStateError, match="only queued or running jobs cancel"):
        store.request_cancel(engine, running)
    with pytest.raises(store.JobStateError, match="there is no job 999"):
        store.request_cancel(engine, 999)


def test_retry_only_from_a_retryable_state(engine):
    job_id = store.submit(engine, RTN)
    with pytest.raises(store.JobStateError, match="is queued"):
        store.retry(engine, job_id)
    lease = store.claim_next(engine, "cpu", "w1")
    with pytest.raises(store.JobStateError, match="is running"):
        store.retry(engine, job_id)
    store.finish(engine, lease, states.FAILED, error_kind="crash", message="boom")
    store.retry(engine, job_id)
    job = store.get_job(engine, job_id)
    assert (job.status, job.cancel_requested, job.lease_owner) == (states.QUEUED, False, None)


def test_the_reaper_interrupts_silent_and_dead_workers_only(engine):
    quiet, dead, alive = (store.submit(engine, RTN) for _ in range(3))
    leases = {store.claim_next(engine, "cpu", name).job_id: name
              for name in ("quiet", "dead", "alive")}
    assert set(leases) == {quiet, dead, alive}
    with transaction(engine) as session:
        session.execute(update(Job).where(Job.id == quiet)
                        .values(heartbeat_at=store.now() - timedelta(minutes=5)))
    assert sorted(store.reap(engine, stale_after_s=60, dead_owners=["dead"])) == [quiet, dead]
    for job_id in (quiet, dead):
        job = store.get_job(engine, job_id)
        assert job.status == states.INTERRUPTED and job.error_kind == "interrupted"
        assert "retry to run it again" in job.error_message
    assert store.get_job(engine, alive).status == states.RUNNING


def test_every_failure_kind_says_what_to_do():
    assert set(states.ERROR_ADVICE) >= {"bad_config", "model_not_found", "missing_package",
                                        "out_of_memory", "timeout", "crash", "interrupted"}


def test_a_job_stored_before_a_setting_was_renamed_still_loads(engine):
    # SmoothQuant's calibration setting was called `samples` before every calibrated recipe
    # shared `calibration_samples`: a job queued then must still run with what it asked for.
    job_id = store.submit(engine, {**RTN, "steps": [{"recipe": "smoothquant"}]})
    with transaction(engine) as session:
        session.execute(update(Job).where(Job.id == job_id).values(
            recipe=[{"recipe": "smoothquant", "settings": {"samples": 4, "alpha": 0.7}}]))
    spec = store.spec_of(store.get_job(engine, job_id))
    (config,) = spec.configs()
    assert (config.calibration_samples, config.alpha) == (4, 0.7)
    # New input takes the new name only.
    with pytest.raises(InvalidJobError, match="samples"):
        store.submit(engine, {**RTN, "steps": [{"recipe": "smoothquant",
                                                "settings": {"samples": 4}}]})


def test_active_owners_are_those_with_a_queued_or_running_job(engine):
    # What the room's Jobs pages share their refreshes by.
    for owner in ("a", "a", "b", "c"):
        store.submit(engine, RTN, owner_session=owner)
    done = store.submit(engine, RTN, owner_session="d")
    store.request_cancel(engine, done)
    assert store.active_owner_count(engine) == 3
    with transaction(engine) as session:
        session.execute(update(Job).where(Job.owner_session == "c")
                        .values(archived_at=store.now()))
    assert store.active_owner_count(engine) == 2


def test_a_long_derived_name_is_shortened_to_what_its_column_holds(engine):
    # Eight steps with their settings name a job longer than jobs.label (which PostgreSQL
    # enforces and SQLite does not); the name ends in an ellipsis, the steps stay whole.
    step = {"recipe": "rtn", "settings": {"bits": 4, "skip": ["lm_head", "down_proj"]}}
    job_id = store.submit(engine, {**RTN, "steps": [step] * 8})
    job = store.get_job(engine, job_id)
    assert len(job.label) == Job.__table__.c.label.type.length and job.label.endswith("…")
    assert job.label.startswith("rtn(bits=4,group_size=64,skip=") and len(job.recipe) == 8
    spec = store.spec_of(job)  # what a worker reads back still validates
    assert spec.name() == job.label and len(spec.steps) == 8


def test_a_failure_quoting_a_nul_is_recorded_on_every_store(engine):
    # A library's error or a log line may quote a file's bytes; PostgreSQL's text holds no
    # NUL (SQLite's does), and the job's end must be recorded either way, NUL shown.
    job_id = store.submit(engine, RTN)
    lease = store.claim_next(engine, "cpu", "w1")
    assert store.report_progress(engine, lease, "load\x00", 0.5, "read b'\x00'", "log \x00")
    assert store.finish(engine, lease, states.FAILED, error_kind="crash",
                        message="bad header b'\x00\x01'", log_tail="line \x00\nend")
    job = store.get_job(engine, job_id)
    assert job.error_message == "bad header b'\\x00\x01'"
    assert (job.log_tail, job.status) == ("line \\x00\nend", states.FAILED)
