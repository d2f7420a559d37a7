"""The tables of measured work: jobs (the queue and its state), the workers that run them,
their results with one row per metric, and the artifacts (saved models) they left on disk."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from db.models import Base


class Job(Base):
    """One recipe run on one model: the queue entry, its live progress and how it ended.

    The row is the single source of truth: workers claim, heartbeat and finish jobs by
    compare-and-set updates on `status`, `attempt` and `lease_owner`, so a stale worker
    (one whose lease was reaped) can never overwrite a newer attempt."""

    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_status_device", "status", "device"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # The steps as JSON: [{"recipe": "gptq", "settings": {...}}, ...], validated on submit.
    recipe: Mapped[list] = mapped_column(JSON)
    # The measurement protocol's settings (evaluation windows, speed scope, ...), as JSON.
    measure: Mapped[dict] = mapped_column(JSON, default=dict)
    model_ref: Mapped[str] = mapped_column(String(300))
    device: Mapped[str] = mapped_column(String(40))
    dtype: Mapped[str] = mapped_column(String(20), default="float32")
    label: Mapped[str] = mapped_column(String(200), default="")
    technique_slug: Mapped[str | None] = mapped_column(String(80))
    save_model: Mapped[bool] = mapped_column(Boolean, default=False)
    time_limit_s: Mapped[float | None] = mapped_column(Float)

    status: Mapped[str] = mapped_column(String(20), index=True)
    attempt: Mapped[int] = mapped_column(Integer, default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(120))
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    cancel_requested_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    progress_stage: Mapped[str] = mapped_column(String(80), default="")
    progress_fraction: Mapped[float] = mapped_column(Float, default=0.0)
    progress_message: Mapped[str] = mapped_column(Text, default="")
    # The last lines of the job's log, kept in the row so any UI process can show them.
    log_tail: Mapped[str] = mapped_column(Text, default="")
    # {"estimate_s": seconds predicted at submit, "plan": [{"key", "kind", "planned_s"}],
    #  "phases": {key: seconds taken}}: later estimates on the same device learn from these.
    timings: Mapped[dict | None] = mapped_column(JSON)
    # An export job: {"of_job": N, "format": "gguf", "reference_ppl": ...}: it rebuilds job
    # N's model, writes it in that format and reads it back; its artifact belongs to job N.
    export: Mapped[dict | None] = mapped_column(JSON)

    error_kind: Mapped[str | None] = mapped_column(String(40))
    error_message: Mapped[str | None] = mapped_column(Text)

    owner_session: Mapped[str | None] = mapped_column(String(80), index=True)
    # sha256 of what makes two runs identical (core.jobs.reuse); None when the model's
    # weights are not pinned down by its name, or the user asked to measure again.
    reuse_key: Mapped[str | None] = mapped_column(String(64), index=True)
    # The job whose run answers this one: a finished one (answered at once) or an active one
    # it is attached to (it finishes with it and is never claimed by a worker itself).
    reused_from: Mapped[int | None] = mapped_column(Integer, index=True)
    # Set by a room reset: the job leaves the room's lists; its result stays.
    archived_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    results: Mapped[list[Result]] = relationship(back_populates="job")
    artifacts: Mapped[list[Artifact]] = relationship(
        back_populates="job", cascade="all, delete-orphan"
    )


class Result(Base):
    """One measured model: a job's compressed model, a baseline that jobs share, or a run
    of the shipped gallery (`gallery_run`; no job, and never a baseline jobs reuse).

    A baseline has no job of its own (`job_id` is NULL) and is unique per model, device,
    dtype and protocol, so it is measured once and reused. A job has at most one result,
    so a retried job can never record its measurement twice."""

    __tablename__ = "results"
    __table_args__ = (
        UniqueConstraint("job_id", name="uq_results_job"),
        UniqueConstraint("baseline_key", name="uq_results_baseline_key"),
        UniqueConstraint("gallery_run", name="uq_results_gallery_run"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    # sha256 over (model key, device, dtype, protocol) for baselines; NULL for job results.
    baseline_key: Mapped[str | None] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(20))  # "baseline" or "compressed"
    name: Mapped[str] = mapped_column(String(200))
    model_ref: Mapped[str] = mapped_column(String(300), index=True)
    # ModelSpec.key: a model reference (at most 300 characters) with its kind prefix and
    # revision, never cut (it identifies the model); 0008 widened it from 200.
    model_key: Mapped[str] = mapped_column(String(320), index=True)
    recipe: Mapped[list] = mapped_column(JSON, default=list)
    execution: Mapped[str] = mapped_column(String(20))
    device: Mapped[str] = mapped_column(String(40))
    device_name: Mapped[str] = mapped_column(String(200))
    dtype: Mapped[str] = mapped_column(String(20))
    protocol: Mapped[dict] = mapped_column(JSON)
    protocol_hash: Mapped[str] = mapped_column(String(64), index=True)
    environment: Mapped[dict] = mapped_column(JSON, default=dict)
    notes: Mapped[list] = mapped_column(JSON, default=list)
    # Per-layer diagnostics (LayerDiagnostic.to_dict rows), when they were computed.
    diagnostics: Mapped[list | None] = mapped_column(JSON)
    # The gallery run it was seeded from (core/gallery), NULL for everything measured here.
    gallery_run: Mapped[str | None] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    job: Mapped[Job | None] = relationship(back_populates="results")
    metrics: Mapped[list[ResultMetric]] = relationship(
        back_populates="result", cascade="all, delete-orphan", order_by="ResultMetric.id"
    )


class ResultMetric(Base):
    """One figure of a result, in the shared metric vocabulary, with its unit and spread."""

    __tablename__ = "result_metrics"
    __table_args__ = (UniqueConstraint("result_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    result_id: Mapped[int] = mapped_column(ForeignKey("results.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(60))
    value: Mapped[float | None] = mapped_column(Float)
    unit: Mapped[str] = mapped_column(String(20), default="")
    spread: Mapped[float | None] = mapped_column(Float)  # interquartile range, when repeated

    result: Mapped[Result] = relationship(back_populates="metrics")


class Artifact(Base):
    """A file a job left on disk (a saved model folder), by path."""

    __tablename__ = "artifacts"

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    path: Mapped[str] = mapped_column(Text)
    bytes: Mapped[int] = mapped_column(BigInteger)
    format: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # What the export holds and what its read-back measured (reader, perplexity, change).
    details: Mapped[dict | None] = mapped_column(JSON)

    job: Mapped[Job] = relationship(back_populates="artifacts")


class Worker(Base):
    """A worker process that runs jobs on one device, as it last reported itself. The UI
    offers the devices of live workers, and the reaper knows a local worker whose process is
    gone without waiting for its heartbeat to go stale."""

    __tablename__ = "workers"

    id: Mapped[str] = mapped_column(String(120), primary_key=True)  # host:pid:start
    host: Mapped[str] = mapped_column(String(200))
    pid: Mapped[int] = mapped_column(Integer)
    device: Mapped[str] = mapped_column(String(40))
    device_name: Mapped[str] = mapped_column(String(200))
    # What the device offers a launcher: memory in bytes (None when unknown), CUDA capability.
    memory_bytes: Mapped[int | None] = mapped_column(BigInteger)
    capability: Mapped[str | None] = mapped_column(String(20))
    current_job_id: Mapped[int | None] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    heartbeat_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Seat(Base):
    """An attendee of a workshop room: a display name and the hash of the seat token that
    proves it is them (the token itself lives only in the attendee's URL)."""

    __tablename__ = "seats"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class RoomState(Base):
    """A workshop room's live state, set from the teacher's page: one row (id 1)."""

    __tablename__ = "room_state"

    id: Mapped[int] = mapped_column(primary_key=True)
    launching_paused: Mapped[bool] = mapped_column(Boolean, default=False)
    # A message to everyone in the room, shown on every page (as plain text).
    banner: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
