"""The local executor: keeps a worker per device, restarts one that dies, stops on request."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from core.jobs import states, store
from core.jobs.executor import executor_running, stop_executor

ROOT = Path(__file__).resolve().parents[3]


def _wait_for(predicate, timeout_s: float, what: str):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_executor_runs_jobs_restarts_dead_workers_and_stops(engine):
    process = subprocess.Popen([sys.executable, "-m", "core.jobs.executor", "--devices", "cpu"],
                               cwd=ROOT, env=os.environ.copy(), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        _wait_for(executor_running, 30, "the executor's lock")
        first = _wait_for(lambda: store.live_workers(engine), 60, "a worker")[0]
        assert first.device == "cpu"
        # A second executor for the same data directory starts nothing.
        again = subprocess.run([sys.executable, "-m", "core.jobs.executor", "--devices", "cpu"],
                               cwd=ROOT, env=os.environ.copy(), capture_output=True, text=True,
                               timeout=60)
        assert "already serves this data directory" in again.stdout
        job_id = store.submit(engine, {"model": "tiny", "device": "cpu", "measure": {
            "eval_windows": 1, "speed": "none", "diagnostics": False}})
        _wait_for(lambda: store.get_job(engine, job_id).status == states.SUCCEEDED, 120,
                  "the job to finish")
        os.kill(first.pid, signal.SIGKILL)
        _wait_for(lambda: any(w.pid != first.pid for w in store.live_workers(engine)), 60,
                  "a replacement worker")
        assert stop_executor(timeout_s=30)
        assert process.wait(30) == 0
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
