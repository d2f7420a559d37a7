"""Server time of each full page run, appended to the file `OPTATLAS_TIMING_LOG` names (one
"page<TAB>seconds" line each), for benches that load the server with real browsers and want
the server's own share of a page's time apart from the browsers'. Off when unset."""

from __future__ import annotations

import os

ENV = "OPTATLAS_TIMING_LOG"


def record(page: str, seconds: float) -> None:
    """Append one page run's server time (nothing when the log is off)."""
    path = os.environ.get(ENV)
    if not path:
        return
    try:
        with open(path, "a", encoding="utf-8") as log:
            log.write(f"{page or 'explore'}\t{seconds:.4f}\n")
    except OSError:
        pass  # a bench's instrument must never break a page


def read(path: str) -> list[tuple[str, float]]:
    """The (page, seconds) lines recorded so far."""
    try:
        with open(path, encoding="utf-8") as log:
            rows = [line.rstrip("\n").split("\t") for line in log]
    except OSError:
        return []
    return [(page, float(seconds)) for page, seconds in rows if seconds]
