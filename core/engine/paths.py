"""Where the engine keeps what it makes: converted checkpoints and measurement caches."""

from __future__ import annotations

import os
from pathlib import Path


def optatlas_home() -> Path:
    """The data directory: `OPTATLAS_HOME`, default `~/.optatlas` (the same as db/ reads)."""
    return Path(os.environ.get("OPTATLAS_HOME", Path.home() / ".optatlas")).expanduser()


def models_dir() -> Path:
    """Converted and compressed checkpoints."""
    return optatlas_home() / "models"


def cache_dir() -> Path:
    """Cached measurements that are expensive to redo (baseline outputs, bandwidth)."""
    return optatlas_home() / "cache"
