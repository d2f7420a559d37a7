"""Identical runs computed once (issue 14). A job whose reuse key (core.jobs.reuse) equals a
finished job's is answered at once from that job's result; one that equals a queued or
running job's attaches to it and finishes with it. Torch-free: the web server submits
through here.

The key a job is submitted with is computed by the web server from the device name its
live workers report; the key a finished job keeps is the one its worker computed (its own
device and library versions), so an answer never crosses devices or library versions even
when the server and a worker disagree. A job launched with "measure again" gets no key at
submit (it reuses nothing and attaches to nothing) but keeps its worker's key, so later
identical launches may reuse its fresh numbers."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from core.jobs import states, store
from core.jobs.results import copy_job_result
from core.jobs.reuse import reuse_key
from core.jobs.spec import JobSpec
from db.engine import transaction
from db.job_models import Job, Result


@dataclass(frozen=True)
class Twin:
    """A job that does exactly what a launch asks: finished (its result answers the launch)
    or active (the launch attaches to it)."""

    job_id: int
    status: str

    @property
    def finished(self) -> bool:
        return self.status == states.SUCCEEDED


@dataclass(frozen=True)
class Submitted:
    """What a launch became: its job, and the job that answers it, if any."""

    job_id: int
    twin: Twin | None = None


def device_kind(engine: Engine, device: str) -> str | None:
    """The hardware behind `device` as its live workers name it ("AMD EPYC … (2 threads)",
    "NVIDIA H100 80GB HBM3"), or None when no worker serves it or they name different
    hardware (then nothing is reused: the job may land on either)."""
    names = {w.device_name for w in store.live_workers(engine) if w.device == device}
    return names.pop() if len(names) == 1 else None


def key_for(engine: Engine, spec: JobSpec, device: str) -> str | None:
    """The reuse key of `spec` sent to `device`, as the queue stands (None: never reused)."""
    if spec.export is not None:
        return None  # an export's answer is a file, kept with the job it exports
    kind = device_kind(engine, device)
    return None if kind is None else reuse_key(spec, kind)


def _twin(session: Session, key: str) -> Twin | None:
    # The newest run that was computed (not itself a reuse) and left its result, else an
    # active run that others may attach to.
    finished = session.scalar(
        select(Job.id).join(Result, Result.job_id == Job.id)
        .where(Job.reuse_key == key, Job.status == states.SUCCEEDED, Job.reused_from.is_(None))
        .order_by(Job.id.desc()).limit(1))
    if finished is not None:
        return Twin(finished, states.SUCCEEDED)
    active = session.execute(
        select(Job.id, Job.status)
        .where(Job.reuse_key == key, Job.status.in_(states.ACTIVE), Job.reused_from.is_(None))
        .order_by(Job.id).limit(1)).first()
    return Twin(active.id, active.status) if active is not None else None


def find_twin(engine: Engine, spec: JobSpec, device: str) -> Twin | None:
    """The job that would answer `spec` on `device` now, if any (for the launch form)."""
    key = key_for(engine, spec, device)
    if key is None:
        return None
    with transaction(engine) as session:
        return _twin(session, key)


def reused_note(job_id: int) -> str:
    """The note a reused result carries."""
    return (f"reused from job {job_id}: an identical run (same model weights, steps and "
            "settings, protocol, device, dtype and library versions); not measured again")


def submit_once(engine: Engine, spec: JobSpec, *, device: str, owner_session: str | None,
                estimate_s: float | None = None, fresh: bool = False) -> Submitted:
    """Queue `spec` on `device`, unless an identical run answers it: a finished one (the new
    job succeeds at once with a copy of its result) or an active one (the new job attaches
    and finishes with it). `fresh` ("measure again") always queues a run of its own."""
    key = None if fresh else key_for(engine, spec, device)
    job = store.new_job(spec, device=device, owner_session=owner_session,
                        estimate_s=estimate_s)
    job.reuse_key = key
    # One write transaction (SQLite's is IMMEDIATE): two identical launches at the same
    # moment see each other, so only one of them is computed.
    with transaction(engine) as session:
        twin = _twin(session, key) if key is not None else None
        if twin is not None:
            job.reused_from = twin.job_id
            if twin.finished:
                moment = store.now()
                job.status, job.started_at, job.finished_at = states.SUCCEEDED, moment, moment
                job.progress_stage, job.progress_fraction = "reused", 1.0
                job.progress_message = f"reused from job {twin.job_id}"
            else:
                job.progress_message = f"attached to job {twin.job_id}: it finishes with it"
        session.add(job)
        session.flush()
        if twin is not None and twin.finished:
            copy_job_result(session, twin.job_id, job.id, reused_note(twin.job_id))
        return Submitted(job.id, twin)


def settle_followers(session: Session, leader: int, key: str | None) -> list[int]:
    """Inside the transaction that records `leader`'s result (its final reuse key `key`):
    the jobs attached to it succeed with a copy of that result. One attached under another
    key (the worker's device or libraries differ from what the server expected) is
    detached and runs itself. Returns the ids that succeeded."""
    session.flush()  # the leader's result, added in this transaction, is read below
    has_result = session.scalar(select(Result.id).where(Result.job_id == leader)) is not None
    followers = session.execute(
        select(Job.id, Job.reuse_key)
        .where(Job.reused_from == leader, Job.status == states.QUEUED)).all()
    settled = []
    moment = store.now()
    for follower in followers:
        if key is None or not has_result or follower.reuse_key != key:
            session.execute(update(Job).where(Job.id == follower.id)
                            .values(reused_from=None, progress_message="queued"))
            continue
        moved = session.execute(
            update(Job).where(Job.id == follower.id, Job.status == states.QUEUED)
            .values(status=states.SUCCEEDED, started_at=moment, finished_at=moment,
                    progress_stage="reused", progress_fraction=1.0,
                    progress_message=f"finished with job {leader}, which computed it")
        ).rowcount
        if moved == 1 and copy_job_result(session, leader, follower.id, reused_note(leader)):
            settled.append(follower.id)
    return settled
