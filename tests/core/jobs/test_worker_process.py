"""A real worker process, killed with SIGKILL in the middle of a job: the job ends
`interrupted` with a clear message, a retry completes it, and its result is recorded once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from core.jobs import states, store
from core.jobs.worker import JobWorker, reap_now
from db.engine import transaction
from db.job_models import Result
from tests.core.jobs.waiting import wait_for


@pytest.fixture
def engine(backend_engine):
    """Every test here runs on SQLite and on PostgreSQL."""
    return backend_engine


ROOT = Path(__file__).resolve().parents[3]


def test_a_killed_worker_leaves_an_interrupted_job_that_a_retry_completes(engine):
    job_id = store.submit(engine, {
        "model": "tiny", "device": "cpu",
        "steps": [{"recipe": "rtn", "settings": {"bits": 4, "group_size": 16}}],
        "measure": {"eval_windows": 2, "speed": "decode_b1", "diagnostics": False},
    })
    worker = subprocess.Popen(
        [sys.executable, "-m", "core.jobs.worker", "--device", "cpu", "--until-idle"],
        cwd=ROOT, env=os.environ.copy(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    try:
        # Kill it while it measures, well after it claimed the job.
        wait_for(lambda: store.get_job(engine, job_id).progress_stage.startswith("baseline"),
                  120, "the worker to start measuring")
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(10)
    finally:
        if worker.poll() is None:
            worker.kill()
    assert worker.returncode == -signal.SIGKILL
    assert store.get_job(engine, job_id).status == states.RUNNING  # nobody knows yet
    assert reap_now(engine) == [job_id]  # its process is gone: no need to wait for staleness
    job = store.get_job(engine, job_id)
    assert job.status == states.INTERRUPTED and job.error_kind == "interrupted"
    assert "worker process is gone" in job.error_message
    assert "retry to run it again" in job.error_message

    store.retry(engine, job_id)
    assert JobWorker(engine, "cpu").run_one(job_id) == states.SUCCEEDED
    job = store.get_job(engine, job_id)
    assert (job.status, job.attempt) == (states.SUCCEEDED, 2)
    with transaction(engine) as session:
        assert session.scalar(select(func.count()).select_from(Result)
                              .where(Result.job_id == job_id)) == 1
