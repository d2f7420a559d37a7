"""Measurements in the database: a job's result or a shared baseline, one row per metric with
its unit and spread. Torch-free, so the web app reads results through the same code."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from sqlalchemy import Engine, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from core.engine.metrics import METRICS, PERPLEXITY_KEY
from core.engine.results import Measurement
from core.jobs.spec import MeasureSettings
from core.jobs.store import now
from db.engine import transaction
from db.job_models import Job, Result, ResultMetric

# What a stored result and the engine's Measurement hold under the same names.
SHARED_FIELDS = ("name", "model_key", "execution", "device", "device_name", "dtype", "protocol")

BASELINE = "baseline"
COMPRESSED = "compressed"


def protocol_hash(protocol: dict) -> str:
    """sha256 of the protocol record: results with equal hashes were measured alike. The
    perplexity note is left out: it describes what the rest already fixes (see
    core.engine.metrics.PERPLEXITY_KEY), so runs recorded before it stay comparable."""
    identity = {key: value for key, value in protocol.items() if key != PERPLEXITY_KEY}
    return hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()


def baseline_key(model_key: str, device: str, dtype: str, measure: dict) -> str:
    """What makes two baselines the same: the model, where and in which dtype it ran, and
    the measurement settings (which fix the protocol). Known before measuring, so a job can
    look its baseline up first."""
    text = json.dumps({"model": model_key, "device": device, "dtype": dtype, "measure": measure},
                      sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class BaselineKeys:
    """Which stored baselines a job may reuse (best first), and the key it stores its own
    under when none is there."""

    reuse: tuple[str, ...]
    measure: str


# A stored baseline serves a job when it timed at least the speed the job compares with.
_REUSABLE = {"full": ("full",), "decode_b1": ("decode_b1", "full"),
             "none": ("full", "decode_b1", "none")}


def baseline_keys(
    model_key: str, device: str, dtype: str, settings: MeasureSettings
) -> BaselineKeys:
    """The baseline keys of a job's model, device, dtype and measurement settings."""
    scope = settings.baseline_scope()

    def key(each: str) -> str:
        return baseline_key(model_key, device, dtype, settings.engine_config(each).to_dict())

    return BaselineKeys(reuse=tuple(key(each) for each in _REUSABLE[scope]), measure=key(scope))


def _row(
    measurement: Measurement,
    *,
    kind: str,
    model_ref: str,
    recipe: list,
    job_id: int | None,
    key: str | None,
    diagnostics: list | None,
) -> Result:
    # The measurement's own fields under the same names; the rest says where it belongs.
    same = {name: getattr(measurement, name) for name in SHARED_FIELDS}
    result = Result(
        **same, job_id=job_id, baseline_key=key, kind=kind, model_ref=model_ref, recipe=recipe,
        protocol_hash=protocol_hash(measurement.protocol),
        environment={**measurement.environment, "model": measurement.model},
        notes=list(measurement.notes), diagnostics=diagnostics, created_at=now(),
    )
    result.metrics = [
        ResultMetric(
            name=name, value=value, unit=METRICS[name].unit, spread=measurement.spread.get(name)
        )
        for name, value in measurement.metrics.items()
    ]
    return result


def add_job_result(
    session: Session,
    job: Job | int,
    measurement: Measurement,
    *,
    model_ref: str,
    recipe: list,
    diagnostics: list | None = None,
) -> None:
    """Add a job's result inside the caller's transaction (the one that marks it succeeded).
    The results table allows one per job, so a retried job cannot record itself twice."""
    job_id = job if isinstance(job, int) else job.id
    session.add(_row(measurement, kind=COMPRESSED, model_ref=model_ref, recipe=recipe,
                     job_id=job_id, key=None, diagnostics=diagnostics))


def copy_job_result(session: Session, source_job: int, target_job: int, note: str) -> bool:
    """Give `target_job` the result `source_job` measured (an identical run answered from
    it), with `note` saying so; False when the source has none. Inside the caller's
    transaction, so the job ends succeeded together with its result."""
    source = session.scalar(select(Result).options(selectinload(Result.metrics))
                            .where(Result.job_id == source_job))
    if source is None:
        return False
    copy = Result(
        job_id=target_job, baseline_key=None, kind=source.kind, name=source.name,
        model_ref=source.model_ref, model_key=source.model_key, recipe=source.recipe,
        execution=source.execution, device=source.device, device_name=source.device_name,
        dtype=source.dtype, protocol=source.protocol, protocol_hash=source.protocol_hash,
        environment=source.environment, notes=[*(source.notes or []), note],
        diagnostics=source.diagnostics, created_at=source.created_at,
    )
    copy.metrics = [ResultMetric(name=m.name, value=m.value, unit=m.unit, spread=m.spread)
                    for m in source.metrics]
    session.add(copy)
    return True


def has_baseline(engine: Engine, keys: BaselineKeys) -> bool:
    """True when a baseline the job may reuse is stored."""
    with transaction(engine) as session:
        return (
            session.scalar(select(Result.id).where(Result.baseline_key.in_(keys.reuse)).limit(1))
            is not None
        )


def find_baseline(engine: Engine, key: str) -> Measurement | None:
    """The stored baseline with `key`, or None."""
    with transaction(engine) as session:
        row = session.scalar(
            select(Result).options(selectinload(Result.metrics)).where(Result.baseline_key == key)
        )
        return to_measurement(row) if row is not None else None


def save_baseline(
    engine: Engine, measurement: Measurement, *, key: str, model_ref: str
) -> Measurement:
    """Store a baseline once. When another worker stored the same one first, keep theirs and
    return it (both measured the same thing; one row serves every job)."""
    try:
        with transaction(engine) as session:
            session.add(
                _row(
                    measurement,
                    kind=BASELINE,
                    model_ref=model_ref,
                    recipe=[],
                    job_id=None,
                    key=key,
                    diagnostics=None,
                )
            )
        return measurement
    except IntegrityError:
        stored = find_baseline(engine, key)
        if stored is None:
            raise
        return stored


def to_measurement(row: Result) -> Measurement:
    """A stored result as the engine's Measurement (metrics, spreads, protocol, notes)."""
    environment = dict(row.environment or {})
    model = environment.pop("model", row.model_ref)
    same = {name: getattr(row, name) for name in SHARED_FIELDS}
    return Measurement(
        **same,
        model=model,
        metrics={m.name: m.value for m in row.metrics if m.name in METRICS},
        spread={m.name: m.spread for m in row.metrics if m.spread is not None},
        environment=environment,
        notes=list(row.notes or []),
        created_at=row.created_at.isoformat() if row.created_at else "",
    )


def list_results(
    engine: Engine,
    *,
    model_key: str | None = None,
    protocol: str | None = None,
    kinds: tuple[str, ...] | None = None,
) -> list[Result]:
    """Stored results with their metrics and job, oldest first, optionally filtered."""
    query = (
        select(Result)
        .options(selectinload(Result.metrics), selectinload(Result.job))
        .order_by(Result.id)
    )
    if model_key:
        query = query.where(Result.model_key == model_key)
    if protocol:
        query = query.where(Result.protocol_hash == protocol)
    if kinds:
        query = query.where(Result.kind.in_(kinds))
    with transaction(engine) as session:
        return list(session.scalars(query))


# What a results table shows of each result: no notes, no per-layer diagnostics (the
# largest part of a row), which one result's details read on their own.
TABLE_COLUMNS = (Result.id, Result.job_id, Result.kind, Result.name, Result.environment,
                 Result.model_ref, Result.model_key, Result.device, Result.device_name,
                 Result.dtype, Result.execution, Result.protocol, Result.protocol_hash,
                 Result.recipe, Result.created_at, Result.gallery_run, Job.technique_slug,
                 Job.owner_session, Job.reused_from)


def results_table(engine: Engine, *, job_ids: list[int] | None = None,
                  gallery_only: bool = False) -> tuple[list, list]:
    """Every stored result's TABLE_COLUMNS (oldest first) and every metric row
    (result_id, name, value, spread), in two queries; with `job_ids`, those jobs' results
    and every baseline only; with `gallery_only`, the shipped gallery's results only."""
    chosen = None if job_ids is None else or_(Result.job_id.in_(job_ids),
                                              Result.kind == BASELINE)
    if gallery_only:
        chosen = Result.gallery_run.is_not(None)
    rows = select(*TABLE_COLUMNS).outerjoin(Job, Job.id == Result.job_id).order_by(Result.id)
    metrics = select(ResultMetric.result_id, ResultMetric.name, ResultMetric.value,
                     ResultMetric.spread).order_by(ResultMetric.id)
    if chosen is not None:
        rows = rows.where(chosen)
        metrics = metrics.where(ResultMetric.result_id.in_(select(Result.id).where(chosen)))
    with transaction(engine) as session:
        return session.execute(rows).all(), session.execute(metrics).all()


def get_result(engine: Engine, result_id: int) -> Result | None:
    """One result with its metrics, notes and diagnostics."""
    with transaction(engine) as session:
        return session.scalar(select(Result).options(selectinload(Result.metrics))
                              .where(Result.id == result_id))


def job_result(engine: Engine, job_id: int) -> Result | None:
    """A job's result, with its metrics, or None."""
    with transaction(engine) as session:
        return session.scalar(
            select(Result).options(selectinload(Result.metrics)).where(Result.job_id == job_id)
        )
