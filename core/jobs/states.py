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
# The moves the store makes, each a compare-and-set on the source status (core.jobs.store):
# QUEUED -> RUNNING (claim) | CANCELLED; RUNNING -> SUCCEEDED | FAILED | CANCELLED |
# INTERRUPTED (finish, cancel, reap); RETRYABLE -> QUEUED (retry). SUCCEEDED is final.
RETRYABLE = (FAILED, CANCELLED, INTERRUPTED)

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
