"""The order workers take queued jobs in: round-robin across their owners (attendees of a
workshop room), oldest first within an owner. An owner never served comes first, then the
one served least recently, so one attendee's ten jobs do not hold the room back. With a
single owner (the single-user app) this is plain first-in, first-out. Torch-free."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

NEVER = float("-inf")


def fair_order(queued: Iterable[tuple[int, str | None]],
               last_started: dict[str | None, float]) -> list[int]:
    """Queued job ids (with their owners) in the order workers will take them, given when
    each owner's latest job started (seconds; owners missing were never served)."""
    by_owner: dict[str | None, deque[int]] = {}
    for job_id, owner in sorted(queued):
        by_owner.setdefault(owner, deque()).append(job_id)
    served = dict(last_started)
    tick = max((t for t in served.values() if t != NEVER), default=0.0)
    order = []
    while by_owner:
        owner = min(by_owner, key=lambda o: (served.get(o, NEVER), by_owner[o][0]))
        order.append(by_owner[owner].popleft())
        tick += 1.0  # taking a job serves its owner now: later than anyone before
        served[owner] = tick
        if not by_owner[owner]:
            del by_owner[owner]
    return order
