"""The teacher's page's door to the room: its live state, the queue with owners and places,
class progress, everyone's results as CSV, and the reset. Thin over core.jobs.room and the
job store; torch-free."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from app import jobs_service, results_export, results_service
from core.jobs import room, states, store
from core.jobs.room import AttendeeProgress, Reset, RoomNow


def state() -> RoomNow:
    return room.room_now(jobs_service.engine())


def set_launching_paused(paused: bool) -> None:
    room.set_launching_paused(jobs_service.engine(), paused)


def set_banner(text: str) -> None:
    """Show `text` to the room; ValueError saying what to change."""
    room.set_banner(jobs_service.engine(), text)


def reset() -> Reset:
    return room.reset_room(jobs_service.engine())


def progress() -> list[AttendeeProgress]:
    return room.class_progress(jobs_service.engine())


@dataclass(frozen=True)
class QueuedJob:
    """One active job as the teacher's queue shows it."""

    job_id: int
    owner: str
    label: str
    model: str
    device: str
    status: str
    place: str  # "running 40%", "next", "3rd", "with job 12"


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def queue() -> list[QueuedJob]:
    """Every running and queued job of the room, running first, then in the order workers
    will take them, each with its owner's name."""
    engine = jobs_service.engine()
    active = jobs_service.jobs(limit=10_000, statuses=states.ACTIVE)
    names = jobs_service.owner_names({job.owner_session for job in active})
    # Each device's queue as {job id: place}, in the order its workers take them.
    places = {device: {job_id: index for index, job_id in
                       enumerate(store.queue_order(engine, device))}
              for device in {j.device for j in active}}
    rows = []
    for job in active:
        order = places[job.device]
        if job.status == states.RUNNING:
            place, rank = f"running {job.progress_fraction:.0%}", -1
        elif job.id in order:
            index = order[job.id]
            place, rank = ("next" if index == 0 else _ordinal(index + 1)), index
        else:
            place, rank = f"with job {job.reused_from}", len(order)
        rows.append((rank, QueuedJob(job.id, names.get(job.owner_session or "", "—"), job.label,
                                     job.model_ref, job.device, job.status, place)))
    return [row for _, row in sorted(rows, key=lambda pair: (pair[0], pair[1].job_id))]


def results_csv() -> str:
    """Everyone's results (an archived job's too: a reset keeps results), with each run's
    attendee by name, as CSV."""
    frame = results_service.results_frame()
    if frame.empty:
        return results_export.to_csv(frame)
    names = jobs_service.owner_names(set(frame["owner"].dropna()))
    frame = frame.assign(attendee=[names.get(owner) if isinstance(owner, str) else None
                                   for owner in frame["owner"]])
    frame = frame.drop(columns=["owner"])
    first = ["attendee", "job_id", "name", "recipe", "model", "device_name", "execution"]
    ordered = [c for c in first if c in frame] + [c for c in frame if c not in first]
    return results_export.to_csv(pd.DataFrame(frame[ordered]))
