"""Load the gallery file into the database (beside the jobs' results, the one engine
package that reads and writes them): a result per run, tagged with its run's name, so
that seeding again changes nothing, a rebuilt run replaces its row, and a run the file no
longer holds leaves. Gallery results have no job and no baseline key: their baseline is the
gallery's own, never one a job on this machine would reuse."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, delete, select

from core.engine.metrics import METRICS
from core.gallery.record import GalleryFile, GalleryRun
from core.jobs.results import BASELINE, COMPRESSED, protocol_hash
from db.engine import transaction
from db.job_models import Result, ResultMetric

# What the app says a gallery run is, beside its numbers.
GALLERY_MODEL_REF = "default"


@dataclass(frozen=True)
class GallerySeedReport:
    added: int
    replaced: int
    removed: int
    unchanged: int

    def __str__(self) -> str:
        return (f"{self.added} added, {self.replaced} replaced, {self.removed} removed, "
                f"{self.unchanged} unchanged")


def _stamp(run: GalleryRun) -> dict:
    return {"title": run.title, "tags": list(run.tags), "code_version": run.code_version,
            "commit": run.commit, "measured_at": run.measured_at, "wall_s": run.wall_s}


def _row(run: GalleryRun) -> Result:
    result = Result(
        job_id=None, baseline_key=None, kind=BASELINE if run.is_baseline else COMPRESSED,
        name=run.label or run.name, model_ref=GALLERY_MODEL_REF, model_key=run.model_key,
        recipe=list(run.steps), execution=run.execution, device=run.device,
        device_name=run.device_name, dtype=run.dtype, protocol=run.protocol,
        protocol_hash=protocol_hash(run.protocol),
        environment={**run.environment, "model": run.model, "gallery": _stamp(run)},
        notes=list(run.notes), diagnostics=run.diagnostics, gallery_run=run.name,
        created_at=datetime.fromisoformat(run.measured_at))
    result.metrics = [ResultMetric(name=name, value=value, unit=METRICS[name].unit,
                                   spread=run.spread.get(name))
                      for name, value in run.metrics.items()]
    return result


def seed_gallery(engine: Engine, gallery: GalleryFile) -> GallerySeedReport:
    """Make the database's gallery results those of `gallery`, in one transaction."""
    added = replaced = unchanged = 0
    with transaction(engine) as session:
        stored = {row.gallery_run: row for row in session.scalars(
            select(Result).where(Result.gallery_run.is_not(None)))}
        wanted = {run.name for run in gallery.runs}
        gone = [row.id for name, row in stored.items() if name not in wanted]
        for run in gallery.runs:
            row = stored.get(run.name)
            if row is not None and (row.environment or {}).get("gallery") == _stamp(run):
                unchanged += 1
                continue
            if row is not None:
                session.delete(row)
                session.flush()  # the name is unique: the old row goes first
                replaced += 1
            else:
                added += 1
            session.add(_row(run))
        if gone:
            session.execute(delete(ResultMetric).where(ResultMetric.result_id.in_(gone)))
            session.execute(delete(Result).where(Result.id.in_(gone)))
    return GallerySeedReport(added, replaced, len(gone), unchanged)
