"""Attendees' seats: joining a room with a display name (and the room's passcode when it
has one) gives a seat token, a random bearer secret that lives in the attendee's URL, so
it survives reloads and server restarts. The database keeps only the token's hash: nobody
reading it can act as an attendee. Torch-free."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy import Engine, select

from core.jobs.store import now
from core.text import has_control_characters
from core.workshop.config import WorkshopConfig
from db.engine import transaction
from db.job_models import Seat

MAX_NAME_CHARS = 40
TOKEN_BYTES = 24


class JoinError(ValueError):
    """A join the room refuses; the message says what to type instead."""


@dataclass(frozen=True)
class Attendee:
    """A seated attendee: who they are, and the owner key their jobs carry."""

    seat_id: int
    name: str

    @property
    def owner(self) -> str:
        return f"seat:{self.seat_id}"


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def clean_name(name: str) -> str:
    """The display name as stored: trimmed, checked for length and control characters."""
    name = (name or "").strip()
    if not name:
        raise JoinError("type a display name (the room sees it beside your jobs)")
    if len(name) > MAX_NAME_CHARS:
        raise JoinError(f"a display name has at most {MAX_NAME_CHARS} characters")
    if has_control_characters(name):
        raise JoinError("a display name cannot contain control characters")
    return name


def join(engine: Engine, room: WorkshopConfig, name: str, passcode: str = "",
         ) -> tuple[Attendee, str]:
    """Seat a new attendee; (the attendee, their seat token). JoinError when the passcode
    is wrong or the name cannot be used."""
    if room.room_passcode and not hmac.compare_digest(passcode.encode(),
                                                      room.room_passcode.encode()):
        raise JoinError("that is not the room's passcode: ask the teacher for it")
    name = clean_name(name)
    token = secrets.token_urlsafe(TOKEN_BYTES)
    with transaction(engine) as session:
        seat = Seat(token_hash=_token_hash(token), name=name, created_at=now())
        session.add(seat)
        session.flush()
        return Attendee(seat.id, seat.name), token


def account_token(secret: str, subject: str) -> str:
    """The seat token of a signed-in account (an OpenID Connect subject): derived with the
    server's secret, so the same account gets the same seat on any device and nobody
    without the secret can compute it."""
    return hmac.new(secret.encode(), f"seat:{subject}".encode(), hashlib.sha256).hexdigest()


def seat_account(engine: Engine, room: WorkshopConfig, name: str, token: str,
                 passcode: str = "") -> Attendee:
    """The seat of a signed-in account whose seat token is `token` (account_token): the
    one it had, or a new one named `name`. JoinError as for `join`."""
    existing = attendee_for(engine, token)
    if existing is not None:
        return existing
    if room.room_passcode and not hmac.compare_digest(passcode.encode(),
                                                      room.room_passcode.encode()):
        raise JoinError("that is not the room's passcode: ask the teacher for it")
    name = clean_name(name[:MAX_NAME_CHARS])
    with transaction(engine) as session:
        seat = Seat(token_hash=_token_hash(token), name=name, created_at=now())
        session.add(seat)
        session.flush()
        return Attendee(seat.id, seat.name)


def attendee_for(engine: Engine, token: str | None) -> Attendee | None:
    """The attendee whose seat token this is, or None (no token, or not one of this room's)."""
    if not token or len(token) > 200:
        return None
    with transaction(engine) as session:
        seat = session.scalar(select(Seat).where(Seat.token_hash == _token_hash(token)))
        return None if seat is None else Attendee(seat.id, seat.name)


def seat_names(engine: Engine, owners: set[str | None]) -> dict[str, str]:
    """Display names by owner key ("seat:N") for those of `owners` that are seats."""
    ids = {int(o.split(":", 1)[1]) for o in owners
           if o and o.startswith("seat:") and o.split(":", 1)[1].isdigit()}
    if not ids:
        return {}
    with transaction(engine) as session:
        rows = session.execute(select(Seat.id, Seat.name).where(Seat.id.in_(ids))).all()
    return {f"seat:{seat_id}": name for seat_id, name in rows}
