"""What went wrong in a job, in words a user can act on: each exception becomes a failure
kind (see states.ERROR_ADVICE) and a message."""

from __future__ import annotations

import traceback


class JobCancelled(Exception):
    """Raised inside a running job when its cancel was requested (at a step boundary)."""


class JobTimedOut(Exception):
    """Raised inside a running job that passed its time limit."""


def _is_out_of_memory(error: BaseException) -> bool:
    if isinstance(error, MemoryError):
        return True
    try:
        import torch
    except ImportError:  # pragma: no cover - the worker always has torch
        return False
    oom = getattr(torch, "OutOfMemoryError", None) or torch.cuda.OutOfMemoryError
    if isinstance(error, oom):
        return True
    # Some allocators raise a plain RuntimeError whose text says it.
    text = str(error).lower()
    return isinstance(error, RuntimeError) and ("out of memory" in text
                                                 or "can't allocate memory" in text)


def classify(error: BaseException) -> tuple[str, str]:
    """(kind, message) for an exception that ended a job."""
    from core.engine.model_refs import ModelNotFoundError
    from core.jobs.spec import InvalidJobError
    from core.recipes.base import InvalidRecipeError, MissingPackageError

    if isinstance(error, JobTimedOut):
        return "timeout", str(error)
    if _is_out_of_memory(error):
        return (
            "out_of_memory",
            f"ran out of memory: {str(error).strip()[:400] or type(error).__name__}",
        )
    if isinstance(error, ModelNotFoundError):
        return "model_not_found", str(error)
    if isinstance(error, MissingPackageError):
        return "missing_package", str(error)
    if isinstance(error, (InvalidRecipeError, InvalidJobError)):
        return "bad_config", str(error)
    if isinstance(error, ModuleNotFoundError):
        return "missing_package", f"a package is missing: {error.name or error} ({error})"
    if isinstance(error, ImportError):
        return "missing_package", f"a package failed to import: {error}"
    if isinstance(error, ValueError):
        # Techniques raise ValueError for settings that do not fit the model (a group size
        # that does not divide a layer, an architecture a recipe does not know).
        return "bad_config", str(error)
    where = traceback.extract_tb(error.__traceback__)[-1:] if error.__traceback__ else []
    place = f" (at {where[0].filename.rsplit('/', 1)[-1]}:{where[0].lineno})" if where else ""
    return "crash", f"{type(error).__name__}: {error}{place}"
