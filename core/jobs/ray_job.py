"""A job slot on a Ray cluster: a detached actor that runs jobs one at a time on its node,
each with the same job runner a local worker runs, for the lease the dispatcher claimed.

A slot holds its node's resources for one job (its CPUs, and a GPU for a CUDA slot) and is
reused for the next job that needs the same resources there: its process keeps torch and the
engine loaded, as a local worker's does, so a job on Ray starts as fast as a local one. The
dispatcher stops a slot that stayed idle for a while, so a quiet cluster gets its resources
back.

Detached, so a dispatcher that stops or restarts does not take running jobs with it; named
(`slot_name`) in OptAtlas's namespace, so a restarted dispatcher finds its slots and asks
each what it runs. A job runs on a thread, so `state` answers while it computes. The job
heartbeats, reports progress, logs and records its result in the shared database itself;
the dispatcher only follows the slot's life."""

from __future__ import annotations

import os
import threading
import traceback
import uuid

# Ray's namespace for OptAtlas's actors: a restarted dispatcher lists its slots here.
NAMESPACE = "optatlas"
SLOT_PREFIX = "optatlas-slot-"


def slot_name(node_id: str) -> str:
    """A new slot's Ray name: on which node, and unique."""
    return f"{SLOT_PREFIX}{node_id[:16]}-{uuid.uuid4().hex[:8]}"


class JobSlot:
    """The actor's class (wrapped with `ray.remote` by the dispatcher, so importing this
    module needs no Ray)."""

    def __init__(self, device: str, *, cpus: float, gpus: float, database_url: str,
                 artifacts_dir: str | None, cancel_grace_s: float) -> None:
        # This process serves this dispatcher's database only: its settings are the jobs'.
        os.environ["OPTATLAS_DB_URL"] = database_url
        if artifacts_dir:
            os.environ["OPTATLAS_ARTIFACTS_DIR"] = artifacts_dir
        self.device, self.cpus, self.gpus = device, cpus, gpus
        self.cancel_grace_s = cancel_grace_s
        self.job: tuple[int, int, str] | None = None  # (job id, attempt, lease owner)
        self.status: str | None = None
        self.error: str | None = None
        self.thread: threading.Thread | None = None
        self.worker = None

    def start(self, job_id: int, attempt: int, owner: str) -> bool:
        """Run attempt `attempt` of job `job_id` under lease `owner`; False while another
        job runs here."""
        if self.thread is not None and self.thread.is_alive():
            return False
        self.job, self.status, self.error = (job_id, attempt, owner), None, None
        self.thread = threading.Thread(target=self._run, name=f"job-{job_id}", daemon=True)
        self.thread.start()
        return True

    def _worker(self):
        """The job runner of this process, made for its first job (it loads the engine)."""
        if self.worker is None:
            import torch

            from core.engine.devices import describe, resolve_device
            from core.jobs.worker import JobWorker
            from db.engine import make_engine

            # A CPU slot computes with the CPUs Ray gave it; a GPU slot's CPU feeds the GPU.
            torch.set_num_threads(max(1, int(self.cpus)))
            worker = JobWorker(make_engine(), self.device, cancel_grace_s=self.cancel_grace_s)
            # Results are keyed by the hardware that measured them, as on a local worker.
            worker.device_name = describe(resolve_device(self.device))
            import ray

            context = ray.get_runtime_context()
            worker.place = f"Ray node {ray.util.get_node_ip_address()} " \
                f"({context.get_node_id()[:8]})"
            self.worker = worker
        return self.worker

    def _run(self) -> None:
        job_id, attempt, owner = self.job
        try:
            from core.jobs.store import Lease

            worker = self._worker()
            worker.name = owner  # the watchdog heartbeats under the lease's name
            self.status = worker.run(Lease(job_id, attempt, owner))
        except BaseException as error:  # noqa: BLE001 - reported through state()
            # JobWorker.run records every failure of the job itself; this is one before it
            # could start (no database, no GPU): the dispatcher records it.
            self.error = "".join(traceback.format_exception_only(error)).strip()

    def state(self) -> dict:
        """What this slot runs (or ran last), whether that ended and how, and where it is."""
        import ray

        running = self.thread is not None and self.thread.is_alive()
        return {"job": self.job, "done": not running, "status": self.status,
                "error": self.error, "device": self.device, "cpus": self.cpus,
                "gpus": self.gpus, "pid": os.getpid(),
                "node_id": ray.get_runtime_context().get_node_id()}
