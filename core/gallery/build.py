"""`optatlas gallery build`: measure the planned runs on the bundled model under the default
protocol, one after another, writing the gallery file after each, so that a stopped build
resumes where it stopped: a run already in the file with the same code version is skipped.

The code version of a run is a hash of what decides its numbers: the source of its recipes'
handlers and configs, of the measuring engine and the job runner, and the library versions.
Change GPTQ's handler and only the GPTQ runs are measured again."""

from __future__ import annotations

import hashlib
import inspect
import subprocess
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from core.gallery.plan import PlannedRun, planned_runs
from core.gallery.record import (
    DEFAULT_PATH,
    GalleryFile,
    GalleryRun,
    read_gallery,
    rounded,
    write_gallery,
)
from core.jobs.reuse import library_versions
from core.jobs.spec import JobSpec, validate_spec

ROOT = Path(__file__).resolve().parents[2]
MODEL = "default"
DEVICE = "cpu"
# The files every run's numbers depend on, whatever its recipe.
ENGINE_FILES = ("core/engine/measure.py", "core/engine/quality.py", "core/engine/speed.py",
                "core/engine/decode_speed.py", "core/engine/metrics.py", "core/engine/data.py",
                "core/engine/models.py", "core/jobs/runner.py", "core/jobs/spec.py")
# Per-layer diagnostics are the bulk of a record (200 layers of the bundled model): kept for
# the outlier lesson, which plots them, and only the fields its plots read.
DIAGNOSTICS_FOR = frozenset({"outliers"})
DIAGNOSTIC_FIELDS = ("name", "relative_error", "outlier_ratio", "max_channel", "max_abs")


def kept_diagnostics(tags, rows: list | None) -> list | None:
    """What of a run's per-layer diagnostics the gallery keeps."""
    if not rows or not DIAGNOSTICS_FOR & set(tags):
        return None
    return [rounded({key: row[key] for key in DIAGNOSTIC_FIELDS if key in row}) for row in rows]


@dataclass(frozen=True)
class BuildStep:
    """What the build did with one planned run."""

    name: str
    outcome: str  # "measured", "kept" (same code version), "not runnable", "failed"
    detail: str = ""


@dataclass(frozen=True)
class BuildSettings:
    """What the runs are measured on: the bundled model on the CPU under the default
    protocol (tests build a small gallery on the tiny model with a shorter one)."""

    model: str = MODEL
    measure: dict | None = None  # the job spec's measure settings; None: the defaults


def spec_for(run: PlannedRun, settings: BuildSettings = BuildSettings()) -> JobSpec:
    """The job spec the gallery measures `run` with."""
    spec = {"model": settings.model, "device": DEVICE, "steps": list(run.steps),
            "label": "" if run.steps else "baseline"}
    if settings.measure is not None:
        spec["measure"] = settings.measure
    return validate_spec(spec)


def _source_files(spec: JobSpec) -> list[Path]:
    # Handlers register when their technique package is imported: the runner imports them
    # all, so a fresh process (a resumed build) hashes the same files as one that ran a job.
    import core.jobs.runner  # noqa: F401
    from core.techniques.registry import handler_for

    files = {ROOT / name for name in ENGINE_FILES}
    for config in spec.configs():
        files.add(Path(inspect.getsourcefile(type(config))))
        handler = handler_for(type(config))
        if handler is not None:
            files.add(Path(inspect.getsourcefile(handler)))
    return sorted(files)


def code_version(spec: JobSpec) -> str:
    """A hash of the sources and library versions that decide `spec`'s numbers."""
    digest = hashlib.sha256()
    for path in _source_files(spec):
        digest.update(str(path.relative_to(ROOT)).encode())
        digest.update(path.read_bytes())
    digest.update(repr(sorted(library_versions().items())).encode())
    return digest.hexdigest()[:16]


def commit() -> str:
    """The checkout's commit, with "+changes" when its tracked files differ from it (the
    gallery file aside: the build itself rewrites it after every run)."""
    gallery_file = DEFAULT_PATH.relative_to(ROOT).as_posix()
    try:
        head = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=ROOT,
                              capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--",
                                ".", f":(exclude){gallery_file}"],
                               cwd=ROOT, capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return (head or "unknown") + ("+changes" if dirty.strip() else "")


class _Baselines:
    """The runner's baseline store for one build: measured once, reused by every run."""

    def __init__(self) -> None:
        self.stored = {}

    def find(self, key: str):
        return self.stored.get(key)

    def save(self, measurement, key: str):
        self.stored[key] = measurement
        return measurement


def measure(run: PlannedRun, baselines: _Baselines, settings: BuildSettings = BuildSettings(),
            progress: Callable[[str], None] = lambda _: None) -> GalleryRun:
    """Measure `run` now and return its record."""
    from core.jobs.runner import RunHooks, run_job

    spec = spec_for(run, settings)
    hooks = RunHooks(progress=lambda stage, fraction, message: progress(stage),
                     check_cancel=lambda: None, find_baseline=baselines.find,
                     save_baseline=baselines.save, log=lambda _: None)
    start = time.perf_counter()
    outcome = run_job(0, spec, hooks, device=DEVICE)
    wall = time.perf_counter() - start
    measured = outcome.measurement
    return GalleryRun(
        name=run.name, title=run.title, tags=run.tags,
        steps=[step.model_dump(mode="json") for step in spec.steps], label=spec.name(),
        model=measured.model, model_key=measured.model_key, device=measured.device,
        device_name=measured.device_name, dtype=measured.dtype, execution=measured.execution,
        metrics=rounded(measured.metrics), spread=rounded(measured.spread),
        protocol=measured.protocol, environment={**measured.environment, **library_versions()},
        notes=measured.notes, diagnostics=kept_diagnostics(run.tags, outcome.diagnostics),
        code_version=code_version(spec), commit=commit(),
        measured_at=datetime.now(UTC).isoformat(timespec="seconds"), wall_s=round(wall, 1))


def _runnable_problem(run: PlannedRun, settings: BuildSettings) -> str | None:
    """Why `run` cannot be measured on this machine's CPU, or None."""
    from core.jobs.spec import InvalidJobError

    try:
        spec_for(run, settings)
    except InvalidJobError as error:
        return str(error)
    return None


def build(names: Iterable[str] | None = None, out: Path = DEFAULT_PATH,
          on_step: Callable[[BuildStep], None] = lambda _: None,
          progress: Callable[[str, str], None] = lambda name, stage: None,
          settings: BuildSettings = BuildSettings(), again: bool = False) -> list[BuildStep]:
    """Measure the planned runs (those in `names` when given) that `out` lacks or holds from
    another code version (every one of them with `again`), writing `out` after each; what
    happened to each run."""
    plan = planned_runs()
    if names is not None:
        wanted = set(names)
        unknown = wanted - {run.name for run in plan}
        if unknown:
            raise KeyError(f"no gallery run(s) {', '.join(sorted(unknown))}; known: "
                           f"{', '.join(run.name for run in plan)}")
        plan = [run for run in plan if run.name in wanted]
    gallery: GalleryFile = read_gallery(out)
    baselines = _Baselines()
    steps = []
    for run in plan:
        problem = _runnable_problem(run, settings)
        if problem is not None:
            step = BuildStep(run.name, "not runnable", problem)
        else:
            kept = gallery.run(run.name)
            if not again and kept is not None \
                    and kept.code_version == code_version(spec_for(run, settings)):
                step = BuildStep(run.name, "kept", f"measured {kept.measured_at}")
            else:
                try:
                    record = measure(run, baselines, settings,
                                     lambda stage, n=run.name: progress(n, stage))
                except Exception as error:  # noqa: BLE001 - one failed run must not stop the rest
                    step = BuildStep(run.name, "failed", f"{type(error).__name__}: {error}")
                else:
                    gallery = gallery.with_run(record)
                    write_gallery(gallery, out)
                    step = BuildStep(run.name, "measured", f"{record.wall_s:.0f} s")
        steps.append(step)
        on_step(step)
    return steps
