"""Polling for tests that watch other processes: wait until a condition holds."""

from __future__ import annotations

import time


def wait_for(predicate, timeout_s: float, what: str, *, every_s: float = 0.05):
    """The first truthy value of `predicate()`, or AssertionError after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every_s)
    raise AssertionError(f"timed out waiting for {what}")
