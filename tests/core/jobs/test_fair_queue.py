"""The fair queue: round-robin across owners, oldest first within one; an owner never served
first; one owner alone is first in, first out; workers claim in that order and the Jobs
page's queue places follow it."""

from __future__ import annotations

import pytest

from core.jobs import store
from core.jobs.fair_queue import fair_order


@pytest.fixture
def engine(backend_engine):
    """Every test here runs on SQLite and on PostgreSQL."""
    return backend_engine


QUICK = {"eval_windows": 1, "speed": "none", "diagnostics": False}


def test_one_attendees_many_jobs_do_not_hold_the_others_back():
    queued = [(1, "ann"), (2, "ann"), (3, "ann"), (4, "bo"), (5, "cy"), (6, "bo")]
    # ann was served a moment ago, bo long ago, cy never.
    assert fair_order(queued, {"ann": 100.0, "bo": 50.0}) == [5, 4, 1, 6, 2, 3]


def test_a_single_owner_is_first_in_first_out():
    assert fair_order([(3, None), (1, None), (2, None)], {None: 10.0}) == [1, 2, 3]


def test_workers_claim_round_robin_and_queue_places_say_so(engine):
    ids = {}
    for owner in ("ann", "ann", "ann", "bo"):
        job = store.submit(engine, {"model": "tiny", "device": "cpu", "measure": QUICK,
                                    "steps": [{"recipe": "rtn"}]}, owner_session=owner)
        ids.setdefault(owner, []).append(job)
    # bo's only job, queued last, waits behind just one of ann's three.
    assert store.queue_place(engine, "cpu", ids["bo"][0]).ahead == 1
    assert store.queue_place(engine, "cpu", ids["ann"][2]).ahead == 3
    first = store.claim_next(engine, "cpu", "worker-1")
    second = store.claim_next(engine, "cpu", "worker-1")
    assert (first.job_id, second.job_id) == (ids["ann"][0], ids["bo"][0])
    assert store.queue_place(engine, "cpu").ahead == 2  # a new job waits behind the rest
