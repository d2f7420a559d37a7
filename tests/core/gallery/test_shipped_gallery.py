"""The gallery file the repository ships: valid, small, and every run a full record of a
run OptAtlas can repeat (a valid recipe config, every quality metric, how it ran)."""

from __future__ import annotations

import pytest

from core.gallery.plan import planned_runs
from core.gallery.record import DEFAULT_PATH, read_gallery
from core.recipes import build_config

QUALITY = ("ppl", "kl", "top1_agreement", "stored_bytes")


def _shipped():
    if not DEFAULT_PATH.exists():
        pytest.skip(f"no gallery file at {DEFAULT_PATH} yet (`optatlas gallery build`)")
    return read_gallery(DEFAULT_PATH)


def test_the_shipped_gallery_is_valid_small_and_complete():
    gallery = _shipped()
    assert DEFAULT_PATH.stat().st_size < 600_000, "the gallery file must stay a few hundred KB"
    planned = {run.name: run for run in planned_runs()}
    assert gallery.runs[0].is_baseline
    for run in gallery.runs:
        assert run.name in planned, f"{run.name}: not a planned run (renamed or removed?)"
        assert [s["recipe"] for s in run.steps] == [s["recipe"] for s in planned[run.name].steps]
        for step in run.steps:
            build_config(step["recipe"], step.get("settings") or {})
        missing = [m for m in QUALITY if run.metrics.get(m) is None]
        assert not missing, f"{run.name}: no {missing}"
        assert run.device_name and run.environment.get("torch") and run.commit
        assert run.protocol and run.execution in ("real", "simulated")
