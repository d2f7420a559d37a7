"""The local executor: keeps a worker per device, restarts one that dies, stops on request."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from core.jobs import states, store
from core.jobs.executor import executor_running, stop_executor
from tests.core.jobs.waiting import wait_for

ROOT = Path(__file__).resolve().parents[3]


def test_executor_runs_jobs_restarts_dead_workers_and_stops(engine):
    # --nice: a workshop room's jobs run below its pages' priority.
    process = subprocess.Popen([sys.executable, "-m", "core.jobs.executor", "--devices", "cpu",
                                "--nice", "7", "--threads", "1"],
                               cwd=ROOT, env=os.environ.copy(), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_for(executor_running, 30, "the executor's lock")
        first = wait_for(lambda: store.live_workers(engine), 60, "a worker")[0]
        assert first.device == "cpu"
        assert os.getpriority(os.PRIO_PROCESS, first.pid) - os.getpriority(
            os.PRIO_PROCESS, 0) == 7
        assert "(1 threads)" in first.device_name  # --threads: its jobs compute on one
        # A second executor for the same data directory starts nothing.
        again = subprocess.run([sys.executable, "-m", "core.jobs.executor", "--devices", "cpu"],
                               cwd=ROOT, env=os.environ.copy(), capture_output=True, text=True,
                               timeout=60)
        assert "already serves this data directory" in again.stdout
        job_id = store.submit(engine, {"model": "tiny", "device": "cpu", "measure": {
            "eval_windows": 1, "speed": "none", "diagnostics": False}})
        wait_for(lambda: store.get_job(engine, job_id).status == states.SUCCEEDED, 120,
                  "the job to finish")
        os.kill(first.pid, signal.SIGKILL)
        wait_for(lambda: any(w.pid != first.pid for w in store.live_workers(engine)), 60,
                  "a replacement worker")
        assert stop_executor(timeout_s=30)
        assert process.wait(30) == 0
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
