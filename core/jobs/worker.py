"""A worker process: claims queued jobs for one device and runs them, one at a time.

While a job runs, a watchdog thread heartbeats the job (and the worker) every few seconds.
It also enforces what the job itself cannot: a cancel that was not honoured within the grace
period, or a time limit passed, ends the job in the database and then the whole process
(`os._exit`): the only way to stop a kernel that does not return. The executor starts a
fresh worker in its place.

    python -m core.jobs.worker --device cpu      (or: optatlas worker)
"""

from __future__ import annotations

import argparse
import collections
import os
import socket
import sys
import threading
import time
from datetime import timedelta

from sqlalchemy import Engine, delete, update

from core.jobs import states, store
from core.jobs.estimate import estimate_job
from core.jobs.failures import JobCancelled, JobTimedOut, classify
from core.jobs.identical_runs import settle_followers
from core.jobs.plan import JobPlan
from core.jobs.progress import ProgressTracker
from core.jobs.results import add_job_result, find_baseline, save_baseline
from core.jobs.reuse import reuse_key
from core.jobs.store import Lease
from db.job_models import Artifact, Job, Worker

HEARTBEAT_S = 2.0
CANCEL_GRACE_S = 30.0
# Progress is written at most this often (a stage change is written at once).
PROGRESS_EVERY_S = 0.5
IDLE_POLL_S = 1.0
# Exit code of a worker that ended itself to stop a job (forced cancel, time limit).
FORCED_EXIT = 75


def local_dead_owners(owners: list[str]) -> list[str]:
    """Lease owners that name a process on this host that no longer exists."""
    host = socket.gethostname()
    dead = []
    for owner in owners:
        parts = (owner or "").split(":")
        if len(parts) < 3 or parts[0] != host or not parts[1].isdigit():
            continue
        try:
            os.kill(int(parts[1]), 0)
        except ProcessLookupError:
            dead.append(owner)
        except PermissionError:
            pass  # alive, someone else's
    return dead


def reap_now(engine: Engine, stale_after_s: float = store.DEFAULT_STALE_AFTER_S) -> list[int]:
    """Interrupt running jobs whose worker is gone (locally known dead, or gone quiet)."""
    owners = [job.lease_owner for job in store.list_jobs(engine, statuses=[states.RUNNING])]
    return store.reap(engine, stale_after_s=stale_after_s, dead_owners=local_dead_owners(owners))


class _Watchdog(threading.Thread):
    """Heartbeats a running job; flags cancel and timeout; forces them after grace."""

    def __init__(self, worker: JobWorker, lease: Lease, time_limit_s: float | None) -> None:
        super().__init__(daemon=True, name=f"watchdog-job-{lease.job_id}")
        self.worker, self.lease, self.time_limit_s = worker, lease, time_limit_s
        self.started = time.monotonic()
        self.cancel = threading.Event()
        self.timed_out = threading.Event()
        self.lost = threading.Event()
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(self.worker.heartbeat_s):
            try:
                state = store.heartbeat(self.worker.engine, self.lease)
                store.worker_heartbeat(self.worker.engine, self.worker.name, self.lease.job_id)
            except Exception as error:  # a locked or unreachable database: try again
                self.worker.log(f"heartbeat failed: {error}")
                continue
            if not state.held:
                # Reaped, or retried elsewhere: nothing this process computes can be recorded.
                self.lost.set()
                self.worker.log("lost the job's lease; stopping")
                self._force(None, "")
                return
            elapsed = time.monotonic() - self.started
            if state.cancel_requested:
                self.cancel.set()
                waited = (store.now() - state.cancel_requested_at) if state.cancel_requested_at \
                    else timedelta(0)
                if waited.total_seconds() > self.worker.cancel_grace_s:
                    self._force(states.CANCELLED, "cancelled: stopped after the grace period of "
                                f"{self.worker.cancel_grace_s:.0f} s (the step did not return)")
            if self.time_limit_s is not None and elapsed > self.time_limit_s:
                self.timed_out.set()
                if elapsed > self.time_limit_s + self.worker.cancel_grace_s:
                    self._force(states.FAILED, f"ran past its time limit of "
                                f"{self.time_limit_s:g} s and was stopped",
                                kind="timeout")

    def _force(self, status: str | None, message: str, kind: str | None = None) -> None:
        if status is not None:
            store.finish(self.worker.engine, self.lease, status, error_kind=kind,
                         message=message, log_tail=self.worker.log_tail())
        self.worker.shutdown()
        os._exit(FORCED_EXIT)


class JobWorker:
    """Runs jobs for one device from the database queue."""

    def __init__(self, engine: Engine, device: str = "cpu", *, heartbeat_s: float = HEARTBEAT_S,
                 cancel_grace_s: float = CANCEL_GRACE_S,
                 stale_after_s: float = store.DEFAULT_STALE_AFTER_S) -> None:
        self.engine, self.device = engine, device
        self.heartbeat_s, self.cancel_grace_s = heartbeat_s, cancel_grace_s
        self.stale_after_s = stale_after_s
        self.name = store.worker_name()
        self._log: collections.deque[str] = collections.deque(maxlen=store.LOG_TAIL_LINES)
        self._registered = False
        self.device_name = device
        # Where this worker runs, when that is not this machine (a Ray node), for the log.
        self.place = ""

    # -- the worker's own record -------------------------------------------------------
    def register(self) -> None:
        """Announce this worker and its device (the UI offers live workers' devices)."""
        from core.engine.devices import describe, resolve_device

        torch_device = resolve_device(self.device)
        memory, capability = None, None
        if torch_device.type == "cuda":
            import torch

            properties = torch.cuda.get_device_properties(torch_device)
            memory = int(properties.total_memory)
            capability = f"{properties.major}.{properties.minor}"
        else:
            try:
                memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
            except (ValueError, OSError):
                memory = None
        moment = store.now()
        self.device_name = describe(torch_device)
        store.register_worker(self.engine, Worker(
            id=self.name, host=socket.gethostname(), pid=os.getpid(), device=self.device,
            device_name=self.device_name, memory_bytes=memory, capability=capability,
            current_job_id=None, started_at=moment, heartbeat_at=moment))
        self._registered = True

    def shutdown(self) -> None:
        """Remove this worker's record."""
        if self._registered:
            try:
                store.remove_worker(self.engine, self.name)
            except Exception:  # noqa: BLE001 - shutting down; the record goes stale anyway
                pass
            self._registered = False

    # -- logging -------------------------------------------------------------------------
    def log(self, line: str) -> None:
        stamp = time.strftime("%H:%M:%S")
        self._log.append(f"{stamp} {line}")
        print(f"[worker {os.getpid()}] {line}", file=sys.stderr, flush=True)

    def log_tail(self) -> str:
        return "\n".join(self._log)

    # -- the loop ------------------------------------------------------------------------
    def serve(self, *, stop_when_idle: bool = False, max_jobs: int | None = None) -> int:
        """Claim and run jobs until stopped (or, with `stop_when_idle`, until none is
        queued). Returns how many jobs it ran."""
        self.register()
        ran = 0
        last_beat = 0.0
        try:
            while max_jobs is None or ran < max_jobs:
                reap_now(self.engine, self.stale_after_s)
                lease = store.claim_next(self.engine, self.device, self.name)
                if lease is None:
                    if stop_when_idle:
                        break
                    if time.monotonic() - last_beat > self.heartbeat_s:
                        store.worker_heartbeat(self.engine, self.name, None)
                        last_beat = time.monotonic()
                    time.sleep(IDLE_POLL_S)
                    continue
                self.run(lease)
                ran += 1
        finally:
            self.shutdown()
        return ran

    def run_one(self, job_id: int) -> str:
        """Claim a specific queued job and run it here (the CLI's foreground run)."""
        self.register()
        try:
            lease = store.claim_next(self.engine, self.device, self.name)
            while lease is not None and lease.job_id != job_id:
                # Older queued jobs for this device came first: run them, as the queue would.
                self.run(lease)
                lease = store.claim_next(self.engine, self.device, self.name)
            if lease is None:
                job = store.get_job(self.engine, job_id)
                return job.status if job else "missing"
            return self.run(lease)
        finally:
            self.shutdown()

    def _plan(self, spec) -> JobPlan:
        """The job's plan as the queue stands (its baseline may be stored by now)."""
        try:
            return estimate_job(self.engine, spec, self.device).plan
        except Exception as error:  # noqa: BLE001 - a plan is for progress; never fail a job on it
            self.log(f"no time plan for this job ({error}); progress moves by stage")
            return JobPlan((), "no plan")

    def run(self, lease: Lease) -> str:
        """Run one claimed job to its end; returns the status it ended with."""
        from core.jobs.artifacts import export_folder, job_folder
        from core.jobs.runner import ExportOutcome, RunHooks, run_export, run_job

        self._log.clear()
        job = store.get_job(self.engine, lease.job_id)
        spec = store.spec_of(job)
        self.log(f"job {lease.job_id} attempt {lease.attempt}: {spec.name()} on {spec.model} "
                 f"({self.device}{', ' + self.place if self.place else ''})")
        watchdog = _Watchdog(self, lease, spec.time_limit_s)
        watchdog.start()
        last_write: list = [0.0, None]  # when progress was last stored, and its (stage, message)
        estimate_s = (job.timings or {}).get("estimate_s")
        tracker = ProgressTracker(self._plan(spec))
        store.report_progress(self.engine, lease, "starting", 0.0, f"attempt {lease.attempt}",
                              timings={"estimate_s": estimate_s, **tracker.finish_preview()})

        def check_cancel() -> None:
            if watchdog.cancel.is_set():
                raise JobCancelled("cancelled by request")
            if watchdog.timed_out.is_set():
                raise JobTimedOut(f"ran past its time limit of {spec.time_limit_s:g} s")

        def check_at_boundary() -> None:
            # Between steps a fresh look costs one query and makes cancel prompt, rather
            # than waiting for the watchdog's next beat.
            state = store.heartbeat(self.engine, lease)
            if state.cancel_requested:
                watchdog.cancel.set()
            check_cancel()

        def progress(stage: str, fraction: float, message: str) -> None:
            # The stored fraction is the whole job's, weighed by the plan: it only grows.
            overall = tracker.update(stage, fraction)
            moment = time.monotonic()
            changed = (stage, message) != last_write[1]
            if changed:
                self.log(f"{stage}{': ' + message if message else ''}")
            if changed or moment - last_write[0] >= PROGRESS_EVERY_S:
                store.report_progress(self.engine, lease, stage, overall, message,
                                      log_tail=self.log_tail())
                last_write[:] = [moment, (stage, message)]
            check_cancel()

        hooks = RunHooks(
            progress=progress, check_cancel=check_at_boundary,
            find_baseline=lambda key: find_baseline(self.engine, key),
            save_baseline=lambda m, key: save_baseline(self.engine, m, key=key,
                                                       model_ref=spec.model),
            log=self.log,
        )
        try:
            if spec.export is not None:
                outcome = run_export(spec, hooks, device=self.device,
                                     folder=export_folder(spec.export.of_job, spec.export.format))
            else:
                outcome = run_job(lease.job_id, spec, hooks, device=self.device,
                                  save_to=job_folder(lease.job_id))
        except JobCancelled:
            status, kind, message = states.CANCELLED, None, "cancelled at a step boundary"
            outcome = None
        except BaseException as error:  # noqa: BLE001 - every failure is recorded
            if isinstance(error, KeyboardInterrupt):
                watchdog.done.set()
                raise
            kind, message = classify(error)
            status, outcome = states.FAILED, None
            self.log(f"failed ({kind}): {message}")
        else:
            status, kind, message = states.SUCCEEDED, None, None
        finally:
            watchdog.done.set()

        # The key this run answers under is the one computed here, on the device and
        # libraries that measured it (before the write transaction, which stays short); the
        # jobs attached to it finish with it.
        key = reuse_key(spec, self.device_name) if outcome is not None and \
            spec.export is None else None

        def record(session) -> None:
            if outcome is None:
                return
            if isinstance(outcome, ExportOutcome):
                # The export belongs to the job whose model it holds; an earlier export of
                # that job to the same format (same path) is replaced.
                exported, owner = outcome.exported, spec.export.of_job
                session.execute(delete(Artifact).where(Artifact.job_id == owner,
                                                       Artifact.path == str(exported.path)))
                session.add(Artifact(job_id=owner, path=str(exported.path),
                                     bytes=exported.bytes, format=exported.format,
                                     details=exported.details, created_at=store.now()))
                return
            add_job_result(session, lease.job_id, outcome.measurement, model_ref=spec.model,
                           recipe=job.recipe, diagnostics=outcome.diagnostics)
            session.execute(update(Job).where(Job.id == lease.job_id).values(reuse_key=key))
            settle_followers(session, lease.job_id, key)
            if outcome.saved is not None:
                session.add(Artifact(job_id=lease.job_id, path=str(outcome.saved.path),
                                     bytes=outcome.saved.bytes, format=outcome.saved.format,
                                     created_at=store.now()))

        if status == states.SUCCEEDED:
            self.log(f"job {lease.job_id} succeeded")
        kept = store.finish(self.engine, lease, status, error_kind=kind, message=message,
                            log_tail=self.log_tail(), before_commit=record,
                            timings={"estimate_s": estimate_s, **tracker.finish()})
        if not kept:
            self.log(f"job {lease.job_id}: lease lost before the end; nothing recorded")
        return status


def main(argv: list[str] | None = None) -> int:
    """`optatlas worker`: serve the queue for one device until interrupted."""
    from db.engine import make_engine

    parser = argparse.ArgumentParser(prog="optatlas worker", description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    parser.add_argument("--until-idle", action="store_true",
                        help="exit when no job is queued for this device")
    parser.add_argument("--nice", type=int, default=0, choices=range(20), metavar="0-19",
                        help="run jobs at this lower CPU priority (a workshop's pages first)")
    parser.add_argument("--threads", type=int, default=None, metavar="N",
                        help="CPU threads a job computes with (default: torch's, one per core)")
    args = parser.parse_args(argv)
    if args.nice:
        # Before torch starts its threads: they inherit the worker's priority.
        os.nice(args.nice)
    if args.threads:
        import torch

        torch.set_num_threads(max(1, args.threads))
    engine = make_engine()
    worker = JobWorker(engine, args.device)
    try:
        worker.serve(stop_when_idle=args.until_idle)
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())

