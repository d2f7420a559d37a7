"""The UI's door to jobs and results: submit, cancel, retry, list, and results as frames.

Thin over core.jobs (torch-free), so the web server never loads the engine; workers do."""

from __future__ import annotations

import socket
from dataclasses import dataclass

import streamlit as st
from sqlalchemy import select

from app import services, workshop
from core.jobs import states, store
from core.jobs.estimate import Estimate, estimate_job
from core.jobs.identical_runs import Submitted, Twin, find_twin, submit_once
from core.jobs.preflight import Preflight, WorkerSeat, check_job
from core.jobs.spec import InvalidJobError, JobSpec, validate_spec
from core.jobs.store import JobStateError
from db.engine import database_url, transaction
from db.job_models import Artifact, Job


def engine():
    """The server's shared database engine."""
    return services.get_engine(database_url())


@dataclass(frozen=True)
class CheckedJob:
    """A launch form's job as checked: the spec, the device it would go to, and what the
    submit-time check found."""

    spec: JobSpec
    device: str
    preflight: Preflight


def _seats() -> list[WorkerSeat]:
    return [WorkerSeat(w.device, w.host) for w in store.live_workers(engine())]


def check(spec: dict | JobSpec) -> CheckedJob:
    """Validate a launch form's job and check it against its model and the running workers,
    without queueing it; InvalidJobError when the spec itself is malformed."""
    job = validate_spec(spec)
    device = store.pick_device(engine()) if job.device == "auto" else job.device
    return CheckedJob(job, device, check_job(job, workers=_seats(), host=socket.gethostname()))


def estimate(checked: CheckedJob) -> Estimate:
    """Time and memory the checked job will take, as the queue and its history stand."""
    return estimate_job(engine(), checked.spec, checked.device, shape=checked.preflight.shape)


def launch(spec: dict | JobSpec, session_id: str | None = None, *,
           fresh: bool = False) -> Submitted:
    """Check and queue a job, or answer it from an identical run (a finished one, or an
    active one it attaches to; `fresh` measures again); InvalidJobError (with what to
    change) when it is not valid or cannot run (the checks the launch form showed, done
    again at the moment of submit, and in a workshop room the room's caps and lists)."""
    checked = check(spec)
    if not checked.preflight.ok:
        raise InvalidJobError(checked.preflight.summary())
    checked = _admitted(checked, session_id)
    guess = estimate(checked)
    return submit_once(engine(), checked.spec, device=checked.device,
                       owner_session=session_id, estimate_s=guess.seconds, fresh=fresh)


def submit(spec: dict | JobSpec, session_id: str | None = None) -> int:
    """`launch`, returning the job's id."""
    return launch(spec, session_id).job_id


def twin(checked: CheckedJob) -> Twin | None:
    """The job whose run would answer the checked one now (finished or active), if any."""
    return find_twin(engine(), checked.spec, checked.device)


def _admitted(checked: CheckedJob, owner: str | None) -> CheckedJob:
    """In a workshop room: the job with the room's time limit, or InvalidJobError with the
    room's reasons (caps, allow-lists) and what to do; as it is outside a room."""
    from core.jobs.admission import admit, room_spec

    room = workshop.room()
    if room is None:
        return checked
    if owner is None or not owner.startswith("seat:"):
        raise InvalidJobError("join the workshop first (reload the page)")
    found = admit(engine(), checked.spec, room, owner)
    if found:
        raise InvalidJobError("; ".join(found))
    return CheckedJob(room_spec(checked.spec, room), checked.device, checked.preflight)


def may_change(job: Job, owner: str | None, teacher: bool = False) -> bool:
    """Whether `owner` may cancel or retry `job`: anyone outside a workshop room; inside
    one, the attendee who launched it and the teacher."""
    return workshop.room() is None or teacher or (owner is not None
                                                  and job.owner_session == owner)


def active_twin(checked: CheckedJob) -> Job | None:
    """A queued or running job that does exactly what the checked one asks, if any."""
    twin = store.active_twin(engine(), checked.spec, checked.device)
    return store.get_job(engine(), twin) if twin is not None else None


def queue_place(device: str, before: int | None = None) -> store.QueuePlace:
    """Where a queued job (or one about to be) stands on its device."""
    return store.queue_place(engine(), device, before)


def jobs(limit: int = 100, owner: str | None = None,
         statuses: tuple[str, ...] | None = None) -> list[Job]:
    """Recent jobs, newest first (of one owner when given); a room reset's archived jobs
    are left out."""
    return store.list_jobs(engine(), limit=limit, owner_session=owner, statuses=statuses,
                           archived=False)


def has_active(owner: str | None = None) -> bool:
    """Whether a job (of `owner`, when given) is queued or running, archived ones aside."""
    return bool(store.list_jobs(engine(), statuses=states.ACTIVE, owner_session=owner,
                                archived=False, limit=1))


def active_owners() -> int:
    """How many owners have a job queued or running; read at most every 2 s for all the
    server's sessions together (every live Jobs page asks)."""
    return _active_owners(database_url())


@st.cache_data(ttl=2.0, show_spinner=False)
def _active_owners(url: str) -> int:
    # Keyed on the database's address, so that another database is never answered from here.
    return store.active_owner_count(services.get_engine(url))


def job(job_id: int) -> Job | None:
    return store.get_job(engine(), job_id)


def cancel(job_id: int, owner: str | None = None, teacher: bool = False) -> str:
    _check_may_change(job_id, owner, teacher)
    return store.request_cancel(engine(), job_id)


def retry(job_id: int, owner: str | None = None, teacher: bool = False) -> None:
    _check_may_change(job_id, owner, teacher)
    store.retry(engine(), job_id)


def measure_again(job_id: int, owner: str | None = None) -> Submitted:
    """Launch job `job_id`'s spec again for `owner`, measured afresh (no reuse)."""
    stored = store.get_job(engine(), job_id)
    if stored is None:
        raise JobStateError(f"there is no job {job_id}")
    spec = store.spec_of(stored).model_copy(update={"device": stored.device})
    return launch(spec, owner, fresh=True)


def _check_may_change(job_id: int, owner: str | None, teacher: bool = False) -> None:
    # Checked here, not only by hiding buttons: a stale page must not act for someone else.
    job = store.get_job(engine(), job_id)
    if job is not None and not may_change(job, owner, teacher):
        raise JobStateError(f"job {job_id} is another attendee's: only they (or the "
                            "teacher) can cancel or retry it")


def export_model(job_id: int, fmt: str, session_id: str | None = None) -> int:
    """Queue an export of job `job_id`'s model to `fmt` (or find the one queued already);
    InvalidJobError saying why it cannot be exported."""
    from core.jobs.export_jobs import submit_export

    return submit_export(engine(), job_id, fmt, owner_session=session_id)


def artifacts(job_id: int) -> list[Artifact]:
    """The files a job left: its saved model and its exports, newest first."""
    with transaction(engine()) as session:
        return list(session.scalars(select(Artifact).where(Artifact.job_id == job_id)
                                    .order_by(Artifact.id.desc())))


def owner_names(owners: set[str | None]) -> dict[str, str]:
    """Workshop attendees' display names by owner key."""
    from core.jobs.seats import seat_names

    return seat_names(engine(), owners)


def advice(kind: str | None) -> str:
    """What a user can do about a failure of this kind."""
    return states.ERROR_ADVICE.get(kind or "", "")


@dataclass(frozen=True)
class DeviceOption:
    """A device a job can be sent to, as the live workers serving it describe it (a Ray
    cluster's dispatcher records one per node: "1x H100 on Ray node 10.0.0.3 (5f0c...)")."""

    device: str
    name: str
    memory_bytes: int | None
    workers: int


def devices() -> list[DeviceOption]:
    """Devices that live workers serve, each naming the hardware behind it (every distinct
    description: a cluster's nodes); the CPU is always offered (the embedded executor serves
    it, and a queued job waits for a worker)."""
    serving: dict[str, list] = {}
    for worker in store.live_workers(engine()):
        serving.setdefault(worker.device, []).append(worker)
    found = {}
    for device, workers in serving.items():
        names = list(dict.fromkeys(w.device_name for w in workers))
        name = "; ".join(names[:4]) + (f"; and {len(names) - 4} more" if len(names) > 4 else "")
        found[device] = DeviceOption(device, name, workers[-1].memory_bytes, len(workers))
    found.setdefault("cpu", DeviceOption("cpu", "CPU", None, 0))
    return sorted(found.values(), key=lambda d: (d.device != "cpu", d.device))
