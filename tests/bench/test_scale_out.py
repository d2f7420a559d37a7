"""The scale-out bench's dispatch latency: from the moment a job could start (queued, with a
slot free) to the moment it ran, whichever executor ran it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bench.scale_out import Attempt, dispatch_latencies, percentile

T0 = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_a_job_queued_behind_busy_slots_counts_from_the_slot_freeing_not_its_submit():
    attempts = [
        Attempt(1, at(0), at(0.5), at(10), "succeeded"),
        Attempt(2, at(0), at(0.7), at(12), "succeeded"),
        Attempt(3, at(0), at(10.4), at(20), "succeeded"),  # waited for job 1's slot
        Attempt(4, at(0), at(13.0), at(22), "succeeded"),  # job 2's slot: 1 s to dispatch
    ]
    assert dispatch_latencies(attempts, slots=2, opened_at=at(0)) == \
        [0.5, 0.7, 0.4, 1.0]


def test_an_interrupted_attempt_frees_no_slot_and_its_retry_counts_from_the_retry():
    attempts = [
        Attempt(1, at(0), at(0.2), at(5), "interrupted"),  # its node went away
        Attempt(2, at(0), at(0.3), at(9), "succeeded"),
        Attempt(1, at(6), at(9.5), at(15), "succeeded"),  # retried at 6, ran in job 2's slot
    ]
    assert [round(x, 3) for x in dispatch_latencies(attempts, slots=2, opened_at=at(0))] == \
        [0.2, 0.3, 0.5]


def test_percentiles_by_nearest_rank():
    assert percentile([], 0.5) is None
    assert percentile([3.0, 1.0, 2.0], 0.5) == 2.0
    assert percentile([float(n) for n in range(1, 21)], 0.95) == 19.0
