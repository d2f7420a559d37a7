"""Seats: joining a room gives a token that names the attendee again later (a reload, a
server restart: it is in the database); the database holds only the token's hash; a wrong
room passcode, an empty or hostile name, or a made-up token seat nobody."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from core.jobs.seats import JoinError, attendee_for, join
from core.workshop.config import WorkshopConfig
from core.workshop.passcodes import hash_passcode
from db.engine import make_engine, transaction
from db.job_models import Seat


@pytest.fixture
def engine(backend_engine):
    """Every test here runs on SQLite and on PostgreSQL."""
    return backend_engine


ROOM = WorkshopConfig(teacher_passcode_hash=hash_passcode("t"), room_passcode="owl-17")


def test_a_seat_token_names_its_attendee_again_after_a_restart(engine):
    ann, token = join(engine, ROOM, "  Ann <b>  ", "owl-17")
    assert ann.name == "Ann <b>" and ann.owner == f"seat:{ann.seat_id}"
    restarted = make_engine()  # a new process's engine on the same database
    assert attendee_for(restarted, token) == ann
    with transaction(engine) as session:
        stored = session.scalars(select(Seat.token_hash)).all()
    assert token not in stored and len(stored[0]) == 64  # only its hash is kept


def test_two_attendees_get_different_seats_and_tokens(engine):
    (ann, a), (bo, b) = join(engine, ROOM, "Ann", "owl-17"), join(engine, ROOM, "Ann", "owl-17")
    assert a != b and ann.seat_id != bo.seat_id  # the same name is two people


@pytest.mark.parametrize(("name", "passcode", "says"), [
    ("Ann", "owl-18", "not the room's passcode"),
    ("   ", "owl-17", "type a display name"),
    ("x" * 41, "owl-17", "at most 40 characters"),
    ("Ann\x1b[2J", "owl-17", "control characters"),
])
def test_a_join_the_room_refuses_says_what_to_type(engine, name, passcode, says):
    with pytest.raises(JoinError, match=says):
        join(engine, ROOM, name, passcode)


def test_no_token_or_a_made_up_one_seats_nobody(engine):
    join(engine, ROOM, "Ann", "owl-17")
    assert attendee_for(engine, None) is None
    assert attendee_for(engine, "made-up") is None
    assert attendee_for(engine, "x" * 10_000) is None


def test_a_signed_in_account_keeps_one_seat_and_its_token_needs_the_secret(engine):
    from core.jobs.seats import account_token, seat_account

    room = WorkshopConfig(teacher_passcode_hash=hash_passcode("t"), room_passcode="owl")
    token = account_token("server-secret", "sub-123")
    assert token != account_token("another-secret", "sub-123")
    assert token != account_token("server-secret", "sub-124")
    with pytest.raises(JoinError, match="passcode"):
        seat_account(engine, room, "Ann", token, "wrong")
    first = seat_account(engine, room, "Ann", token, "owl")
    again = seat_account(engine, room, "Ann on her phone", token)  # seated: no passcode again
    assert again == first and attendee_for(engine, token) == first
