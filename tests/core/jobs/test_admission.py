"""Admission in a workshop room: launches off the room's lists or over its caps are refused
before queueing, each with the reason and what to do; the room's time limit is applied."""

from __future__ import annotations

import pytest

from core.jobs import states, store
from core.jobs.admission import admit, problems, room_spec
from core.jobs.spec import validate_spec
from core.workshop.config import WorkshopConfig
from core.workshop.passcodes import hash_passcode


@pytest.fixture
def engine(backend_engine):
    """Every test here runs on SQLite and on PostgreSQL."""
    return backend_engine


ROOM = WorkshopConfig(teacher_passcode_hash=hash_passcode("t"), recipes=("rtn", "gptq"),
                      caps={"jobs_per_attendee": 2, "queue_length": 3, "eval_windows": 4,
                            "time_limit_s": 600})


def _spec(**fields):
    base = {"model": "tiny", "steps": [{"recipe": "rtn"}], "device": "cpu",
            "measure": {"eval_windows": 2, "speed": "none"}}
    return validate_spec({**base, **fields})


def test_a_job_within_the_rooms_lists_and_caps_is_admitted():
    assert problems(_spec(), ROOM, attendee_jobs=[7], room_queued=2) == []


def test_models_recipes_windows_and_saving_off_the_rooms_lists_are_refused_with_the_fix():
    found = problems(_spec(model="Qwen/Qwen2.5-0.5B", steps=[{"recipe": "awq"}],
                           measure={"eval_windows": 16}, save_model=True),
                     ROOM, attendee_jobs=[], room_queued=0)
    assert found == [
        "this room runs the models default, tiny; 'Qwen/Qwen2.5-0.5B' is not among them",
        "this room does not run awq; it runs rtn, gptq",
        "at most 4 evaluation windows a job in this room (this one asks for 16)",
        "saving models is off in this room: launch without saving",
    ]


def test_a_local_folder_is_refused_whether_or_not_it_exists(tmp_path):
    for folder in (str(tmp_path), "/no/such/folder"):
        spec = _spec().model_copy(update={"model": folder})
        assert problems(spec, ROOM, attendee_jobs=[], room_queued=0) == [
            "this room runs no local folders: choose one of its models (default, tiny)"]


def test_caps_say_which_job_to_wait_for():
    mine = problems(_spec(), ROOM, attendee_jobs=[12, 9], room_queued=0)
    assert mine == ["you have 2 job(s) queued or running (#9, #12), the most this room "
                    "allows: wait for job #9 to finish, or ask the teacher"]
    full = problems(_spec(), ROOM, attendee_jobs=[], room_queued=3)
    assert full == ["the room's queue is full (3 jobs waiting): try again in a few minutes, "
                    "or ask the teacher"]


def test_the_rooms_time_limit_replaces_none_or_a_longer_one():
    assert room_spec(_spec(), ROOM).time_limit_s == 600
    assert room_spec(_spec(time_limit_s=7200), ROOM).time_limit_s == 600
    assert room_spec(_spec(time_limit_s=60), ROOM).time_limit_s == 60


def test_admission_counts_the_attendees_own_active_jobs_from_the_queue(engine):
    room = WorkshopConfig(teacher_passcode_hash=ROOM.teacher_passcode_hash,
                          caps={"jobs_per_attendee": 2, "queue_length": 4})
    ids = [store.submit(engine, _spec(), owner_session=owner) for owner in ("ann", "ann", "bo")]
    assert admit(engine, _spec(), room, "bo") == []
    assert "you have 2 job(s) queued or running (#%d, #%d)" % tuple(ids[:2]) in \
        admit(engine, _spec(), room, "ann")[0]
    store.request_cancel(engine, ids[0])  # a queued job cancelled is no longer active
    assert store.get_job(engine, ids[0]).status == states.CANCELLED
    assert admit(engine, _spec(), room, "ann") == []
