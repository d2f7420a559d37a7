"""Who may queue what in a workshop room: a launch over a cap or off the room's lists is
refused before it is queued, with the reason and what to do. Torch-free.

`problems` is the rule itself, on counts the caller gives; `admit` counts from the queue."""

from __future__ import annotations

from sqlalchemy import Engine, select

from core.engine.model_refs import is_path_like
from core.jobs import states
from core.jobs.room import room_now
from core.jobs.spec import JobSpec
from core.workshop.config import WorkshopConfig
from db.engine import transaction
from db.job_models import Job


def room_spec(spec: JobSpec, room: WorkshopConfig) -> JobSpec:
    """`spec` with the room's time limit: a job asking for none, or for more, gets the cap."""
    cap = room.caps.time_limit_s
    if spec.time_limit_s is not None and spec.time_limit_s <= cap:
        return spec
    return spec.model_copy(update={"time_limit_s": cap})


def problems(spec: JobSpec, room: WorkshopConfig, *, attendee_jobs: list[int],
             room_queued: int, paused: bool = False) -> list[str]:
    """Why the room refuses `spec` from an attendee whose queued and running jobs are
    `attendee_jobs`, with `room_queued` jobs waiting in the whole room (and launching
    `paused` by the teacher); empty to admit."""
    found = []
    if paused:
        found.append("the teacher has paused launching for the moment: your jobs already "
                     "queued keep their place; launch again when the teacher resumes")
    model = spec.model.strip() or "default"
    if is_path_like(model):
        found.append("this room runs no local folders: choose one of its models "
                     f"({', '.join(room.models)})")
    elif not room.allows_model(model):
        found.append(f"this room runs the models {', '.join(room.models)}; "
                     f"{model!r} is not among them")
    refused = [step.recipe for step in spec.steps if not room.allows_recipe(step.recipe)]
    if refused:
        found.append(f"this room does not run {', '.join(refused)}; it runs "
                     f"{', '.join(room.recipes or ())}")
    if spec.measure.eval_windows > room.caps.eval_windows:
        found.append(f"at most {room.caps.eval_windows} evaluation windows a job in this room "
                     f"(this one asks for {spec.measure.eval_windows})")
    if spec.save_model and not room.allow_save:
        found.append("saving models is off in this room: launch without saving")
    if len(attendee_jobs) >= room.caps.jobs_per_attendee:
        shown = ", ".join(f"#{job}" for job in sorted(attendee_jobs))
        found.append(f"you have {len(attendee_jobs)} job(s) queued or running ({shown}), the "
                     f"most this room allows: wait for job #{min(attendee_jobs)} to finish, "
                     "or ask the teacher")
    if room_queued >= room.caps.queue_length:
        found.append(f"the room's queue is full ({room_queued} jobs waiting): try again in a "
                     "few minutes, or ask the teacher")
    return found


def admit(engine: Engine, spec: JobSpec, room: WorkshopConfig, attendee: str) -> list[str]:
    """`problems` of `spec` for `attendee`, counted from the queue as it stands."""
    with transaction(engine) as session:
        active = session.execute(select(Job.id, Job.owner_session, Job.status)
                                 .where(Job.status.in_(states.ACTIVE))).all()
    mine = [job_id for job_id, owner, _ in active if owner == attendee]
    queued = sum(1 for _, _, status in active if status == states.QUEUED)
    return problems(spec, room, attendee_jobs=mine, room_queued=queued,
                    paused=room_now(engine).launching_paused)
