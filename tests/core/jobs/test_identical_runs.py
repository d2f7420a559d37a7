"""Identical runs computed once: a finished run answers an identical launch at once (from
any attendee, after a restart), identical launches while one runs attach to it and finish
with it, "measure again" runs afresh, and nothing is reused across devices."""

from __future__ import annotations

import pytest
import torch
from sqlalchemy import func, select

from core.engine.devices import describe
from core.jobs import states, store
from core.jobs.identical_runs import device_kind, find_twin, submit_once
from core.jobs.results import job_result, to_measurement
from core.jobs.spec import validate_spec
from core.jobs.worker import JobWorker
from db.engine import make_engine, transaction
from db.job_models import Job, Worker


@pytest.fixture
def engine(backend_engine):
    """Every test here runs on SQLite and on PostgreSQL."""
    return backend_engine


SPEC = {"model": "tiny", "steps": [{"recipe": "rtn", "settings": {"bits": 4, "group_size": 16}}],
        "device": "cpu", "measure": {"eval_windows": 1, "speed": "none"}}


def _live_cpu_worker(engine, name: str | None = None, worker_id: str = "web:1:0") -> None:
    # What the embedded executor's worker reports; the server keys launches by it.
    moment = store.now()
    store.register_worker(engine, Worker(
        id=worker_id, host="web", pid=1, device="cpu",
        device_name=name or describe(torch.device("cpu")), memory_bytes=None,
        capability=None, current_job_id=None, started_at=moment, heartbeat_at=moment))


def _launch(engine, owner: str, fresh: bool = False, **change):
    return submit_once(engine, validate_spec({**SPEC, **change}), device="cpu",
                       owner_session=owner, fresh=fresh)


def _computed(engine) -> int:
    # Jobs a worker actually ran (a reused or attached job is never claimed: attempt 0).
    with transaction(engine) as session:
        return session.scalar(select(func.count()).select_from(Job).where(Job.attempt > 0))


def test_a_finished_run_answers_an_identical_launch_at_once(engine):
    _live_cpu_worker(engine)
    first = _launch(engine, "seat:1")
    assert first.twin is None
    assert JobWorker(engine, "cpu").run_one(first.job_id) == states.SUCCEEDED
    again = _launch(engine, "seat:2")
    job = store.get_job(engine, again.job_id)
    assert (job.status, job.reused_from, job.owner_session) == \
        (states.SUCCEEDED, first.job_id, "seat:2")
    assert job.progress_message == f"reused from job {first.job_id}"
    original = to_measurement(job_result(engine, first.job_id))
    answered = to_measurement(job_result(engine, again.job_id))
    assert answered.metrics == original.metrics
    assert any(note.startswith(f"reused from job {first.job_id}") for note in answered.notes)
    assert _computed(engine) == 1
    # A server restart (a new engine on the same file) still finds it.
    restarted = make_engine(str(engine.url))
    assert find_twin(restarted, validate_spec(SPEC), "cpu").job_id == first.job_id


def test_measure_again_runs_afresh_and_its_numbers_answer_the_next_launch(engine):
    _live_cpu_worker(engine)
    first = _launch(engine, "seat:1")
    JobWorker(engine, "cpu").run_one(first.job_id)
    fresh = _launch(engine, "seat:1", fresh=True)
    assert fresh.twin is None and store.get_job(engine, fresh.job_id).status == states.QUEUED
    JobWorker(engine, "cpu").run_one(fresh.job_id)
    assert _computed(engine) == 2
    assert _launch(engine, "seat:3").twin.job_id == fresh.job_id  # the newest measurement


def test_identical_launches_while_one_is_queued_attach_to_it_and_finish_with_it(engine):
    _live_cpu_worker(engine)
    leader = _launch(engine, "seat:1")
    followers = [_launch(engine, f"seat:{n}") for n in (2, 3, 4)]
    assert all(f.twin.job_id == leader.job_id and not f.twin.finished for f in followers)
    other = _launch(engine, "seat:2", measure={"eval_windows": 2, "speed": "none"})
    assert other.twin is None  # another protocol is another run
    ran = JobWorker(engine, "cpu").serve(stop_when_idle=True)
    assert ran == 2 and _computed(engine) == 2
    leading = to_measurement(job_result(engine, leader.job_id))
    for follower in followers:
        job = store.get_job(engine, follower.job_id)
        assert (job.status, job.reused_from, job.attempt) == \
            (states.SUCCEEDED, leader.job_id, 0)
        assert to_measurement(job_result(engine, follower.job_id)).metrics == leading.metrics


def test_when_the_run_they_wait_for_is_cancelled_one_attached_job_runs_for_the_rest(engine):
    _live_cpu_worker(engine)
    leader = _launch(engine, "seat:1")
    second, third = _launch(engine, "seat:2"), _launch(engine, "seat:3")
    store.request_cancel(engine, leader.job_id)  # its owner changes their mind
    assert JobWorker(engine, "cpu").serve(stop_when_idle=True) == 1
    assert store.get_job(engine, second.job_id).reused_from is None  # it ran
    job = store.get_job(engine, third.job_id)
    assert (job.status, job.reused_from) == (states.SUCCEEDED, second.job_id)


def test_nothing_is_reused_across_devices(engine):
    assert device_kind(engine, "cpu") is None  # no worker: nothing to key by
    assert _launch(engine, "seat:1").twin is None
    _live_cpu_worker(engine, name="Some Other CPU (64 threads)")
    first = _launch(engine, "seat:1")
    JobWorker(engine, "cpu").run_one(first.job_id)  # this machine's CPU measured it
    assert _launch(engine, "seat:2").twin is None
    # Two workers on "cpu" naming different hardware: the job may land on either.
    _live_cpu_worker(engine, worker_id="web:2:0")
    assert device_kind(engine, "cpu") is None
