"""One job on a Ray cluster: a detached actor that runs the same job runner a local worker
runs, for the lease the dispatcher claimed.

Detached, so a dispatcher that stops or restarts does not take running jobs with it; named
after the job and its attempt (`actor_name`), so a restarted dispatcher finds it again. Its
constructor starts the job on a thread and returns, so Ray reports the actor alive at once
and `state` answers while the job computes. The job heartbeats, reports progress, logs and
records its result in the shared database itself; the dispatcher only follows the actor's
life. One job per actor process: the dispatcher kills the actor when the job has ended."""

from __future__ import annotations

import os
import threading
import traceback

# Ray's namespace for OptAtlas's actors: a restarted dispatcher lists its jobs' actors here.
NAMESPACE = "optatlas"


def actor_name(job_id: int, attempt: int) -> str:
    """The Ray name of the actor that runs attempt `attempt` of job `job_id`."""
    return f"optatlas-job-{job_id}-a{attempt}"


class RayJob:
    """The actor's class (wrapped with `ray.remote` by the dispatcher, so importing this
    module needs no Ray)."""

    def __init__(self, job_id: int, attempt: int, owner: str, device: str, *,
                 database_url: str, artifacts_dir: str | None, threads: int | None,
                 cancel_grace_s: float) -> None:
        # This process runs this one job: its settings are the job's.
        os.environ["OPTATLAS_DB_URL"] = database_url
        if artifacts_dir:
            os.environ["OPTATLAS_ARTIFACTS_DIR"] = artifacts_dir
        self.job_id, self.attempt, self.owner, self.device = job_id, attempt, owner, device
        self.threads, self.cancel_grace_s = threads, cancel_grace_s
        self.status: str | None = None
        self.error: str | None = None
        self.thread = threading.Thread(target=self._run, name=f"job-{job_id}", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            if self.threads:
                import torch

                torch.set_num_threads(max(1, int(self.threads)))
            from core.engine.devices import describe, resolve_device
            from core.jobs.store import Lease
            from core.jobs.worker import JobWorker
            from db.engine import make_engine

            worker = JobWorker(make_engine(), self.device, cancel_grace_s=self.cancel_grace_s)
            # The dispatcher holds the lease in this name; results are keyed by the hardware
            # that measured them, as on a local worker.
            worker.name = self.owner
            worker.device_name = describe(resolve_device(self.device))
            self.status = worker.run(Lease(self.job_id, self.attempt, self.owner))
        except BaseException as error:  # noqa: BLE001 - reported through state()
            # JobWorker.run records every failure of the job itself; this is one before it
            # could start (no database, no torch): the dispatcher records it.
            self.error = "".join(traceback.format_exception_only(error)).strip()

    def state(self) -> dict:
        """Whether the job's thread has ended, how, and where this actor runs."""
        import ray

        return {"done": not self.thread.is_alive(), "status": self.status, "error": self.error,
                "pid": os.getpid(), "node_id": ray.get_runtime_context().get_node_id()}
