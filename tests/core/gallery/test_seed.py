"""Seeding the gallery: one result per run, tagged with its name; seeding twice changes
nothing, a rebuilt run replaces its row, a run the file dropped leaves."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from core.gallery.record import GalleryFile, GalleryRun
from core.jobs.gallery_results import seed_gallery
from db.engine import transaction
from db.job_models import Result, ResultMetric


@pytest.fixture
def engine(backend_engine):
    """Every test here runs on SQLite and on PostgreSQL."""
    return backend_engine


def _run(name: str, steps=(), ppl: float = 20.0, measured_at: str = "2026-12-03T10:00:00+00:00"):
    return GalleryRun(
        name=name, title=name, steps=steps, label=name, model="SmolLM2-135M-Instruct",
        model_key="bundled:smollm2", device="cpu", device_name="Test CPU (2 threads)",
        dtype="float32", execution="simulated" if steps else "real",
        metrics={"ppl": ppl, "kl": 0.01}, spread={}, protocol={"corpus": "pydoc", "windows": 16},
        environment={"torch": "2.13.0"}, code_version="abcdef0123456789", commit="abc",
        measured_at=measured_at, wall_s=12.0)


def _counts(engine) -> tuple[int, int]:
    with transaction(engine) as session:
        return (session.scalar(select(func.count()).select_from(Result)),
                session.scalar(select(func.count()).select_from(ResultMetric)))


def test_seeding_twice_changes_nothing_and_a_rebuilt_run_replaces_its_row(engine):
    rtn = ({"recipe": "rtn", "settings": {"bits": 4}},)
    gallery = GalleryFile(runs=[_run("baseline"), _run("rtn-4bit-g64", rtn, ppl=21.5)])
    report = seed_gallery(engine, gallery)
    assert (report.added, report.unchanged) == (2, 0)
    assert _counts(engine) == (2, 4)
    assert str(seed_gallery(engine, gallery)) == "0 added, 0 replaced, 0 removed, 2 unchanged"
    assert _counts(engine) == (2, 4)
    rebuilt = gallery.with_run(_run("rtn-4bit-g64", rtn, ppl=21.7,
                                    measured_at="2026-12-04T10:00:00+00:00"))
    assert seed_gallery(engine, rebuilt).replaced == 1
    with transaction(engine) as session:
        row = session.scalar(select(Result).where(Result.gallery_run == "rtn-4bit-g64"))
        assert {m.name: m.value for m in row.metrics}["ppl"] == 21.7
        assert row.job_id is None and row.environment["gallery"]["commit"] == "abc"
    dropped = GalleryFile(runs=[_run("baseline")])
    assert seed_gallery(engine, dropped).removed == 1
    assert _counts(engine) == (1, 2)


def test_the_gallery_baseline_is_never_one_a_job_reuses(engine):
    seed_gallery(engine, GalleryFile(runs=[_run("baseline")]))
    with transaction(engine) as session:
        baseline = session.scalar(select(Result).where(Result.gallery_run == "baseline"))
        # No key, so a job here, whose baseline is looked up by key, measures its own.
        assert baseline.kind == "baseline" and baseline.baseline_key is None
