"""The teacher's controls on a room: pausing launching refuses new jobs (queued ones keep
their place), a banner is checked and kept, class progress counts who ran what, and a reset
archives every job while their results stay."""

from __future__ import annotations

import pytest

from core.jobs import states, store
from core.jobs.admission import admit
from core.jobs.results import job_result
from core.jobs.room import (
    MAX_BANNER_CHARS,
    class_progress,
    reset_room,
    room_now,
    set_banner,
    set_launching_paused,
)
from core.jobs.seats import join
from core.jobs.spec import validate_spec
from core.jobs.worker import JobWorker
from core.workshop.config import WorkshopConfig
from core.workshop.passcodes import hash_passcode


@pytest.fixture
def engine(backend_engine):
    """Every test here runs on SQLite and on PostgreSQL."""
    return backend_engine


ROOM = WorkshopConfig(teacher_passcode_hash=hash_passcode("t"))
SPEC = {"model": "tiny", "steps": [{"recipe": "rtn"}], "device": "cpu",
        "measure": {"eval_windows": 1, "speed": "none"}}


def test_pausing_launching_refuses_new_jobs_until_resumed(engine):
    assert room_now(engine).launching_paused is False
    set_launching_paused(engine, True)
    assert "the teacher has paused launching" in admit(engine, validate_spec(SPEC), ROOM,
                                                      "seat:1")[0]
    set_launching_paused(engine, False)
    assert admit(engine, validate_spec(SPEC), ROOM, "seat:1") == []


def test_a_banner_is_kept_as_typed_and_refused_when_too_long(engine):
    set_banner(engine, "  Break until 11:00 — *not* markdown <b>  ")
    assert room_now(engine).banner == "Break until 11:00 — *not* markdown <b>"
    with pytest.raises(ValueError, match=f"at most {MAX_BANNER_CHARS}"):
        set_banner(engine, "x" * (MAX_BANNER_CHARS + 1))
    with pytest.raises(ValueError, match="control characters"):
        set_banner(engine, "bell\x07")
    assert room_now(engine).banner.startswith("Break")  # a refused banner changes nothing


def test_class_progress_counts_each_attendees_jobs_and_techniques(engine):
    ann, _ = join(engine, ROOM, "Ann")
    bo, _ = join(engine, ROOM, "Bo")
    for label in ("rtn", "gptq"):
        store.submit(engine, {**SPEC, "label": label}, owner_session=ann.owner)
    done = store.submit(engine, {**SPEC, "label": "rtn"}, owner_session=ann.owner)
    store.request_cancel(engine, done)
    rows = {row.name: row for row in class_progress(engine)}
    assert (rows["Ann"].jobs, rows["Ann"].active) == (3, 2)
    assert rows["Ann"].techniques[0] == "rtn" and set(rows["Ann"].techniques) == {"rtn", "gptq"}
    assert (rows["Bo"].jobs, rows["Bo"].techniques) == (0, ())  # seated, nothing run yet
    assert bo.owner not in {r.owner for r in class_progress(engine) if r.jobs}


def test_a_reset_archives_every_job_and_keeps_their_results(engine):
    finished = store.submit(engine, SPEC, owner_session="seat:1")
    JobWorker(engine, "cpu").run_one(finished)
    waiting = store.submit(engine, SPEC, owner_session="seat:2")
    reset = reset_room(engine)
    assert (reset.archived, reset.cancelled) == (2, 1)
    assert store.get_job(engine, waiting).status == states.CANCELLED
    assert store.list_jobs(engine, archived=False) == []
    assert {j.id for j in store.list_jobs(engine, archived=True)} == {finished, waiting}
    assert job_result(engine, finished) is not None
    assert reset_room(engine).archived == 0  # nothing left to archive
