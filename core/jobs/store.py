"""The job queue in the database: submit, claim, heartbeat, report progress, finish, cancel,
retry and reap, each state change a compare-and-set.

Every write that a worker makes names the attempt and lease it holds (`Lease`); the UPDATE
matches only while the row still says so. A worker whose job was reaped, cancelled or retried
meanwhile therefore changes nothing: its update matches no row and it learns it lost the job.
Torch-free: the web app and the CLI use it as they are."""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, and_, func, select, update

from core.jobs import states
from core.jobs.fair_queue import fair_order
from core.jobs.spec import JobSpec, validate_spec
from core.recipes import current_settings
from core.text import without_nul
from db.engine import transaction
from db.job_models import Job, Worker

# How long a running job may go without a heartbeat before the reaper calls it interrupted.
# Workers beat every few seconds; this leaves room for a long garbage-collection pause or a
# briefly locked database.
DEFAULT_STALE_AFTER_S = 30.0
LOG_TAIL_LINES = 40


def now() -> datetime:
    """The current time in UTC (every timestamp the queue stores)."""
    return datetime.now(UTC)


def as_utc(moment: datetime | None) -> datetime | None:
    """A stored timestamp as an aware UTC datetime (SQLite hands back naive ones; every
    stored one was UTC)."""
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment


@dataclass(frozen=True)
class Lease:
    """What a worker holds while it runs a job: the job, the attempt it claimed, its name."""

    job_id: int
    attempt: int
    owner: str

    def matches(self):
        """The WHERE clause under which this lease still stands."""
        return and_(Job.id == self.job_id, Job.attempt == self.attempt,
                    Job.lease_owner == self.owner, Job.status == states.RUNNING)


@dataclass(frozen=True)
class LeaseState:
    """What a heartbeat learns: whether the lease stands, and whether cancel was asked."""

    held: bool
    cancel_requested: bool = False
    cancel_requested_at: datetime | None = None


class JobStateError(RuntimeError):
    """An action that the job's current state does not allow (e.g. retrying a running job)."""


def worker_name() -> str:
    """This process's lease owner name: host, pid and a start stamp (pids get reused)."""
    return f"{socket.gethostname()}:{os.getpid()}:{now().strftime('%H%M%S%f')}"


def new_job(spec: JobSpec, *, device: str, owner_session: str | None = None,
            estimate_s: float | None = None) -> Job:
    """The queued row of a validated `spec` on `device` (not added to any session yet)."""
    return Job(
        recipe=[step.model_dump() for step in spec.steps],
        measure=spec.measure.model_dump(),
        model_ref=spec.model,
        device=device,
        dtype=spec.dtype,
        label=spec.name(),
        technique_slug=spec.technique_slug,
        save_model=spec.save_model,
        time_limit_s=spec.time_limit_s,
        status=states.QUEUED,
        attempt=0,
        cancel_requested=False,
        progress_stage="queued",
        progress_fraction=0.0,
        progress_message="",
        log_tail="",
        owner_session=owner_session,
        timings={"estimate_s": round(estimate_s, 1)} if estimate_s is not None else None,
        export=None if spec.export is None else spec.export.model_dump(),
        created_at=now(),
    )


def submit(engine: Engine, spec: JobSpec | dict, *, owner_session: str | None = None,
           device: str | None = None, estimate_s: float | None = None) -> int:
    """Validate `spec` (InvalidJobError before anything is written) and queue it. `device`
    overrides an "auto" device with the one chosen for it; `estimate_s` is the time the job
    was predicted to take (the queue's wait times add these up). Returns the job id."""
    spec = validate_spec(spec)
    chosen = device or spec.device
    if chosen == "auto":
        chosen = pick_device(engine)
    job = new_job(spec, device=chosen, owner_session=owner_session, estimate_s=estimate_s)
    with transaction(engine) as session:
        session.add(job)
        session.flush()
        return job.id


def spec_of(job: Job) -> JobSpec:
    """The JobSpec a stored job was submitted with."""
    steps = [{**step, "settings": current_settings(step["recipe"], step.get("settings") or {})}
             for step in job.recipe]
    return JobSpec.model_validate({
        "model": job.model_ref, "steps": steps, "device": job.device, "dtype": job.dtype,
        "measure": job.measure, "save_model": job.save_model, "time_limit_s": job.time_limit_s,
        "label": job.label, "technique_slug": job.technique_slug, "export": job.export,
    })


def get_job(engine: Engine, job_id: int) -> Job | None:
    """One job as stored now (detached: read it, do not modify it)."""
    with transaction(engine) as session:
        return session.get(Job, job_id)


def list_jobs(engine: Engine, *, statuses: Sequence[str] | None = None,
              owner_session: str | None = None, limit: int = 200,
              archived: bool | None = None) -> list[Job]:
    """Jobs, newest first, optionally of some statuses or one browser session; `archived`
    False leaves out the jobs a room reset archived (True: only those; None: all)."""
    query = select(Job).order_by(Job.id.desc()).limit(limit)
    if statuses:
        query = query.where(Job.status.in_(statuses))
    if owner_session:
        query = query.where(Job.owner_session == owner_session)
    if archived is not None:
        query = query.where(Job.archived_at.is_not(None) if archived
                            else Job.archived_at.is_(None))
    with transaction(engine) as session:
        return list(session.scalars(query))


def active_owner_count(engine: Engine) -> int:
    """How many owners (browser sessions or attendees) have a job queued or running, archived
    ones aside: the pages that follow live jobs, which a room's refresh rate is shared by."""
    query = select(func.count(func.distinct(Job.owner_session))).where(
        Job.status.in_(states.ACTIVE), Job.archived_at.is_(None))
    with transaction(engine) as session:
        return int(session.scalar(query) or 0)


def _fair_queue(session, device: str) -> list[int]:
    """The queued jobs of `device` in the order workers take them (core.jobs.fair_queue)."""
    rows = session.execute(
        select(Job.id, Job.owner_session, Job.reused_from)
        .where(Job.status == states.QUEUED, Job.device == device).order_by(Job.id)
    ).all()
    # A job attached to an identical active one finishes with it and is never taken itself;
    # once that one ended without a result, the attached job is an ordinary queued one.
    leaders = {row.reused_from for row in rows if row.reused_from is not None}
    live = set(session.scalars(select(Job.id).where(Job.id.in_(leaders),
                                                    Job.status.in_(states.ACTIVE)))) \
        if leaders else set()
    queued = [(row.id, row.owner_session) for row in rows if row.reused_from not in live]
    if len({owner for _, owner in queued}) <= 1:
        return [job_id for job_id, _ in queued]  # one owner: first in, first out
    starts = session.execute(
        select(Job.owner_session, func.max(Job.started_at))
        .where(Job.device == device, Job.started_at.is_not(None))
        .group_by(Job.owner_session)
    ).all()
    last = {owner: as_utc(moment).timestamp() for owner, moment in starts if moment}
    return fair_order(queued, last)


def queue_order(engine: Engine, device: str) -> list[int]:
    """The queued jobs of `device` in the order workers will take them."""
    with transaction(engine) as session:
        return _fair_queue(session, device)


def claim_next(engine: Engine, device: str, owner: str) -> Lease | None:
    """Take the next queued job for `device` (round-robin across the jobs' owners, oldest
    first within one), or None. Two workers racing for one job: exactly one UPDATE matches
    the queued row; the other tries again."""
    for _ in range(20):
        with transaction(engine) as session:
            order = _fair_queue(session, device)
            if not order:
                return None
            candidate = session.get(Job, order[0])
            if candidate is None:
                continue
            attempt = candidate.attempt + 1
            moment = now()
            claimed = session.execute(
                update(Job)
                .where(Job.id == candidate.id, Job.status == states.QUEUED,
                       Job.attempt == candidate.attempt)
                .values(status=states.RUNNING, attempt=attempt, lease_owner=owner,
                        heartbeat_at=moment, started_at=moment, finished_at=None,
                        progress_stage="starting", progress_fraction=0.0,
                        progress_message=f"attempt {attempt} on {device}",
                        error_kind=None, error_message=None)
            ).rowcount
            if claimed == 1:
                if candidate.reused_from is not None:
                    _take_over_followers(session, candidate)
                return Lease(candidate.id, attempt, owner)
    return None


def _take_over_followers(session, job: Job) -> None:
    # `job` was attached to a run that ended without a result (cancelled, failed, its worker
    # gone); it runs now, and the other jobs attached to that run attach to it instead.
    session.execute(
        update(Job).where(Job.status == states.QUEUED, Job.reused_from == job.reused_from,
                          Job.id != job.id, Job.reuse_key == job.reuse_key)
        .values(reused_from=job.id, progress_message=f"attached to job {job.id}: it "
                "finishes with it")
    )
    session.execute(update(Job).where(Job.id == job.id).values(reused_from=None))


def heartbeat(engine: Engine, lease: Lease) -> LeaseState:
    """Record that the lease's worker is alive; learn whether it still holds the job and
    whether a cancel was requested."""
    with transaction(engine) as session:
        held = session.execute(
            update(Job).where(lease.matches()).values(heartbeat_at=now())
        ).rowcount == 1
        if not held:
            return LeaseState(held=False)
        row = session.execute(
            select(Job.cancel_requested, Job.cancel_requested_at).where(Job.id == lease.job_id)
        ).one()
        return LeaseState(True, bool(row.cancel_requested), as_utc(row.cancel_requested_at))


def report_progress(engine: Engine, lease: Lease, stage: str, fraction: float,
                    message: str = "", log_tail: str | None = None,
                    timings: dict | None = None) -> bool:
    """Store the job's progress (and log tail, and its timings record when given); False
    when the lease is lost."""
    # Messages and logs quote what libraries and files said: NUL would fail on PostgreSQL.
    values = {"progress_stage": without_nul(stage[:80]),
              "progress_fraction": max(0.0, min(1.0, fraction)),
              "progress_message": without_nul(message), "heartbeat_at": now()}
    if log_tail is not None:
        values["log_tail"] = without_nul(log_tail)
    if timings is not None:
        values["timings"] = timings
    with transaction(engine) as session:
        return session.execute(update(Job).where(lease.matches()).values(**values)).rowcount == 1


def finish(engine: Engine, lease: Lease, status: str, *, error_kind: str | None = None,
           message: str | None = None, log_tail: str | None = None, before_commit=None,
           timings: dict | None = None) -> bool:
    """Move the leased job to a final `status`. `before_commit(session)` runs in the same
    transaction (a job's result and artifacts are written there), so a job never ends
    succeeded without its result, nor gets a result it then fails to record. False, and
    nothing written, when the lease was lost meanwhile."""
    if status not in (states.SUCCEEDED, states.FAILED, states.CANCELLED):
        raise ValueError(f"a worker ends a job as succeeded, failed or cancelled, not {status}")
    # The error may quote a file or a library (NUL included, which PostgreSQL refuses): a
    # job's end must be recorded whatever it says.
    values = {"status": status, "finished_at": now(), "error_kind": error_kind,
              "error_message": without_nul(message), "lease_owner": None,
              "progress_stage": status, "progress_fraction": 1.0 if status == states.SUCCEEDED
              else Job.progress_fraction}
    if log_tail is not None:
        values["log_tail"] = without_nul(log_tail)
    if timings is not None:
        values["timings"] = timings
    with transaction(engine) as session:
        moved = session.execute(update(Job).where(lease.matches()).values(**values)).rowcount
        if moved != 1:
            return False  # nothing was written
        if before_commit is not None:
            before_commit(session)
        return True


def request_cancel(engine: Engine, job_id: int) -> str:
    """Cancel a job: a queued one at once, a running one by asking its worker (which stops
    at the next step boundary, or is stopped after a grace period). Returns the new state."""
    with transaction(engine) as session:
        job = session.get(Job, job_id)
        if job is None:
            raise JobStateError(f"there is no job {job_id}")
        if job.status == states.QUEUED:
            moved = session.execute(
                update(Job).where(Job.id == job_id, Job.status == states.QUEUED)
                .values(status=states.CANCELLED, finished_at=now(), progress_stage="cancelled",
                        error_kind=None, error_message="cancelled before it started")
            ).rowcount
            if moved == 1:
                return states.CANCELLED
            session.refresh(job)
        if job.status == states.RUNNING:
            session.execute(
                update(Job).where(Job.id == job_id, Job.status == states.RUNNING,
                                  Job.cancel_requested.is_(False))
                .values(cancel_requested=True, cancel_requested_at=now())
            )
            return "cancelling"
        raise JobStateError(f"job {job_id} is {job.status}; only queued or running jobs cancel")


def retry(engine: Engine, job_id: int) -> None:
    """Queue a failed, cancelled or interrupted job again (its next claim is a new attempt)."""
    with transaction(engine) as session:
        moved = session.execute(
            update(Job).where(Job.id == job_id, Job.status.in_(states.RETRYABLE))
            # The last attempt's outcome and times go: the card shows a queued job again
            # (its log tail keeps what happened before).
            .values(status=states.QUEUED, cancel_requested=False, cancel_requested_at=None,
                    lease_owner=None, progress_stage="queued", progress_fraction=0.0,
                    progress_message="queued again", started_at=None, finished_at=None,
                    heartbeat_at=None, error_kind=None, error_message=None)
        ).rowcount
        if moved != 1:
            job = session.get(Job, job_id)
            if job is None:
                raise JobStateError(f"there is no job {job_id}")
            raise JobStateError(f"job {job_id} is {job.status}; only failed, cancelled or "
                                "interrupted jobs can be retried")


def reap(engine: Engine, *, stale_after_s: float = DEFAULT_STALE_AFTER_S,
         dead_owners: Sequence[str] = ()) -> list[int]:
    """Mark running jobs `interrupted` whose heartbeat is older than `stale_after_s`, or
    whose lease owner is known to be dead (a local worker process that is gone). Returns
    their ids."""
    cutoff = now() - timedelta(seconds=stale_after_s)
    reaped = []
    with transaction(engine) as session:
        running = session.execute(
            select(Job.id, Job.attempt, Job.lease_owner, Job.heartbeat_at)
            .where(Job.status == states.RUNNING)
        ).all()
        for row in running:
            dead = row.lease_owner in dead_owners
            if not dead and (as_utc(row.heartbeat_at) or cutoff) >= cutoff:
                continue
            why = ("its worker process is gone" if dead else
                   f"its worker sent no heartbeat for over {stale_after_s:.0f} s")
            moved = session.execute(
                update(Job).where(Job.id == row.id, Job.status == states.RUNNING,
                                  Job.attempt == row.attempt)
                .values(status=states.INTERRUPTED, finished_at=now(), lease_owner=None,
                        error_kind="interrupted",
                        error_message=f"interrupted during attempt {row.attempt}: {why} "
                        "(killed, crashed, out of memory, or the machine restarted); "
                        "retry to run it again")
            ).rowcount
            if moved == 1:
                reaped.append(row.id)
    return reaped


def interrupt(engine: Engine, lease: Lease, why: str) -> bool:
    """Mark the leased job `interrupted` because what ran it is gone (`why` names it: a Ray
    node or worker that died); False, and nothing written, when the lease no longer holds."""
    with transaction(engine) as session:
        return session.execute(
            update(Job).where(lease.matches())
            .values(status=states.INTERRUPTED, finished_at=now(), lease_owner=None,
                    error_kind="interrupted",
                    error_message=f"interrupted during attempt {lease.attempt}: {why}; "
                    "retry to run it again")
        ).rowcount == 1


def register_worker(engine: Engine, worker: Worker) -> None:
    """Record (or refresh) a worker and the device it serves."""
    with transaction(engine) as session:
        session.merge(worker)


def worker_heartbeat(engine: Engine, worker_id: str, current_job_id: int | None) -> None:
    """Note that a worker is alive, and what it is running."""
    with transaction(engine) as session:
        session.execute(update(Worker).where(Worker.id == worker_id)
                        .values(heartbeat_at=now(), current_job_id=current_job_id))


def remove_worker(engine: Engine, worker_id: str) -> None:
    """Forget a worker that is shutting down."""
    with transaction(engine) as session:
        worker = session.get(Worker, worker_id)
        if worker is not None:
            session.delete(worker)


def live_workers(engine: Engine, *, stale_after_s: float = DEFAULT_STALE_AFTER_S) -> list[Worker]:
    """Workers that reported within `stale_after_s`."""
    cutoff = now() - timedelta(seconds=stale_after_s)
    with transaction(engine) as session:
        workers = session.scalars(select(Worker).order_by(Worker.device, Worker.id)).all()
    return [w for w in workers if as_utc(w.heartbeat_at) >= cutoff]


def recent_timings(engine: Engine, device: str, limit: int = 20) -> list[dict]:
    """The timings records of the latest succeeded jobs on `device`, newest first."""
    query = (select(Job.timings).where(Job.status == states.SUCCEEDED, Job.device == device,
                                       Job.timings.is_not(None))
             .order_by(Job.id.desc()).limit(limit))
    with transaction(engine) as session:
        return [t for t in session.scalars(query) if isinstance(t, dict) and t.get("phases")]


@dataclass(frozen=True)
class QueuePlace:
    """Where a queued job stands: the jobs before it on its device and the running ones,
    and the seconds they are expected to take still (None when some have no estimate)."""

    ahead: int
    running: int
    wait_s: float | None


def queue_place(engine: Engine, device: str, before: int | None = None) -> QueuePlace:
    """How many jobs run and wait on `device` ahead of job `before` in the order workers take
    them (of a job not queued yet when None), and roughly how long they will take still."""
    with transaction(engine) as session:
        rows = session.execute(
            select(Job.id, Job.status, Job.timings, Job.progress_fraction)
            .where(Job.device == device, Job.status.in_(states.ACTIVE))
        ).all()
        order = _fair_queue(session, device)
    # A job not queued yet is placed last (the most it may wait); a queued one where the
    # fair order puts it.
    place = order.index(before) if before in order else len(order)
    taken_first = set(order[:place])
    ahead = [r for r in rows if r.id in taken_first]
    running = [r for r in rows if r.status == states.RUNNING and r.id != before]
    wait = 0.0
    for row in ahead + running:
        total = (row.timings or {}).get("planned_total_s") or (row.timings or {}).get("estimate_s")
        if total is None:
            return QueuePlace(len(ahead), len(running), None)
        done = row.progress_fraction if row.status == states.RUNNING else 0.0
        wait += total * (1.0 - done)
    return QueuePlace(len(ahead), len(running), wait)


def active_twin(engine: Engine, spec: JobSpec, device: str) -> int | None:
    """A queued or running job that does exactly what `spec` asks on `device`, if any."""
    wanted = (spec.model, [step.model_dump() for step in spec.steps], device, spec.dtype,
              spec.measure.model_dump(), spec.save_model,
              None if spec.export is None else spec.export.model_dump())
    with transaction(engine) as session:
        for job in session.scalars(select(Job).where(Job.status.in_(states.ACTIVE))
                                   .order_by(Job.id)):
            if (job.model_ref, job.recipe, job.device, job.dtype, job.measure,
                    job.save_model, job.export) == wanted:
                return job.id
    return None


def pick_device(engine: Engine) -> str:
    """For a job that said "auto": a CUDA device a live worker serves, else the CPU."""
    devices = sorted({w.device for w in live_workers(engine)})
    cuda = [d for d in devices if d.startswith("cuda")]
    return cuda[0] if cuda else "cpu"
