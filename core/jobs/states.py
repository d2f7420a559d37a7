"""A job's life: queued -> running -> succeeded | failed | cancelled | interrupted, and back to
queued when a finished-but-unsuccessful job is retried."""

from __future__ import annotations

QUEUED = "queued"
RUNNING = "running"
SUCCEEDED = "succeeded"
FAILED = "failed"
CANCELLED = "cancelled"
INTERRUPTED = "interrupted"  # its worker stopped heartbeating: killed, crashed, machine gone

STATUSES = (QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED, INTERRUPTED)
ACTIVE = (QUEUED, RUNNING)
FINISHED = (SUCCEEDED, FAILED, CANCELLED, INTERRUPTED)
RETRYABLE = (FAILED, CANCELLED, INTERRUPTED)

TRANSITIONS: dict[str, frozenset[str]] = {
    QUEUED: frozenset({RUNNING, CANCELLED}),
    RUNNING: frozenset({SUCCEEDED, FAILED, CANCELLED, INTERRUPTED}),
    SUCCEEDED: frozenset(),
    FAILED: frozenset({QUEUED}),
    CANCELLED: frozenset({QUEUED}),
    INTERRUPTED: frozenset({QUEUED}),
}

# Failure kinds, each with what a user can do about it (shown beside the message).
ERROR_ADVICE: dict[str, str] = {
    "bad_config": "change the settings named in the message and launch again",
    "model_not_found": "check the model id or folder; a Hub model must be in the local "
                       "cache when the machine is offline",
    "missing_package": "install the optional package named in the message on the worker's "
                       "machine, or choose another technique",
    "out_of_memory": "choose a smaller model, fewer calibration samples or evaluation "
                     "windows, or a device with more memory",
    "timeout": "raise the job's time limit, or measure less (fewer evaluation windows)",
    "crash": "the message and the log's tail say where it stopped; retry, or report it",
    "interrupted": "its worker stopped (killed, crashed or the machine restarted); retry "
                   "to run it again",
}


def can_move(source: str, target: str) -> bool:
    """True when a job may go from `source` to `target`."""
    return target in TRANSITIONS.get(source, frozenset())
