"""A workshop room's live state and the teacher's actions on it: pause and resume
launching, a banner to everyone, the class's progress, and a reset that archives every job
(their results stay). Torch-free; the teacher's page (app/views/teacher.py) is a view over
this module.

The room's *file* (who may enter, what they may run) is core.workshop.config; this is what
changes while the room runs, kept in the database so every server process and restart sees
the same."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass

from sqlalchemy import Engine, func, select, update

from core.jobs import states
from core.jobs.store import now
from core.text import has_control_characters
from db.engine import transaction
from db.job_models import Job, RoomState, Seat

MAX_BANNER_CHARS = 500


@dataclass(frozen=True)
class RoomNow:
    """What every page of the room reads: whether launching is paused, and the banner."""

    launching_paused: bool = False
    banner: str = ""


def room_now(engine: Engine) -> RoomNow:
    """The room's state as the teacher last set it (defaults before they set anything)."""
    with transaction(engine) as session:
        row = session.get(RoomState, 1)
        return RoomNow(row.launching_paused, row.banner) if row else RoomNow()


def _set(engine: Engine, **values) -> None:
    with transaction(engine) as session:
        row = session.get(RoomState, 1)
        if row is None:
            session.add(RoomState(id=1, **{"launching_paused": False, "banner": "", **values},
                                  updated_at=now()))
        else:
            for name, value in values.items():
                setattr(row, name, value)
            row.updated_at = now()


def set_launching_paused(engine: Engine, paused: bool) -> None:
    """Pause (True) or resume launching for every attendee; queued jobs keep running."""
    _set(engine, launching_paused=bool(paused))


def clean_banner(text: str) -> str:
    """The banner as stored: trimmed, within MAX_BANNER_CHARS, no control characters except
    line breaks; ValueError saying what to change."""
    text = (text or "").strip()
    if len(text) > MAX_BANNER_CHARS:
        raise ValueError(f"a banner has at most {MAX_BANNER_CHARS} characters "
                         f"(this one has {len(text)})")
    if has_control_characters(text.replace("\n", " ")):
        raise ValueError("a banner cannot contain control characters")
    return text


def set_banner(engine: Engine, text: str) -> None:
    """Show `text` to the whole room (empty: no banner)."""
    _set(engine, banner=clean_banner(text))


@dataclass(frozen=True)
class Reset:
    """What a room reset did."""

    archived: int
    cancelled: int


def reset_room(engine: Engine) -> Reset:
    """Start the room afresh: queued jobs are cancelled, running ones asked to stop, and
    every job leaves the room's lists (archived). Results stay in the database: they still
    answer identical runs, and Results can show them."""
    moment = now()
    with transaction(engine) as session:
        cancelled = session.execute(
            update(Job).where(Job.status == states.QUEUED, Job.archived_at.is_(None))
            .values(status=states.CANCELLED, finished_at=moment, progress_stage="cancelled",
                    error_message="cancelled when the teacher reset the room")).rowcount
        session.execute(
            update(Job).where(Job.status == states.RUNNING, Job.cancel_requested.is_(False))
            .values(cancel_requested=True, cancel_requested_at=moment))
        archived = session.execute(
            update(Job).where(Job.archived_at.is_(None)).values(archived_at=moment)).rowcount
    return Reset(archived, cancelled)


@dataclass(frozen=True)
class AttendeeProgress:
    """One attendee's work in the room so far."""

    owner: str
    name: str
    jobs: int
    succeeded: int
    failed: int
    active: int
    techniques: tuple[str, ...]  # what they ran, most often first


def class_progress(engine: Engine) -> list[AttendeeProgress]:
    """Who ran what: every seated attendee (also those with no job yet), in joining order,
    counted over the jobs not archived."""
    with transaction(engine) as session:
        seats = session.execute(select(Seat.id, Seat.name).order_by(Seat.id)).all()
        rows = session.execute(
            select(Job.owner_session, Job.status, Job.label, func.count())
            .where(Job.archived_at.is_(None), Job.owner_session.like("seat:%"))
            .group_by(Job.owner_session, Job.status, Job.label)).all()
    counts: dict[str, Counter] = defaultdict(Counter)
    labels: dict[str, Counter] = defaultdict(Counter)
    for owner, status, label, n in rows:
        counts[owner][status] += n
        labels[owner][label] += n
    progress = []
    for seat_id, name in seats:
        owner = f"seat:{seat_id}"
        seen = counts[owner]
        progress.append(AttendeeProgress(
            owner=owner, name=name, jobs=sum(seen.values()),
            succeeded=seen[states.SUCCEEDED],
            failed=seen[states.FAILED] + seen[states.INTERRUPTED],
            active=seen[states.QUEUED] + seen[states.RUNNING],
            techniques=tuple(label for label, _ in labels[owner].most_common())))
    return progress
