"""Before a job is submitted: how long it will take (its plan's total, baseline included when
none is stored yet) and how much memory it needs (from the parameter count).

Torch-free: the launch page shows it as the user edits the form."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from core.engine.metrics import SIMULATED
from core.engine.model_configs import BUNDLED_CHECKPOINT, lookup_config
from core.engine.model_refs import parse_model_ref
from core.engine.model_shapes import ModelShape
from core.engine.paths import models_dir
from core.jobs.plan import NO_CORRECTIONS, Corrections, JobPlan, JobShape, plan_job
from core.jobs.spec import JobSpec

BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}


@dataclass(frozen=True)
class Estimate:
    """A guess, what it rests on (shown beside it), and the plan it sums."""

    seconds: float | None
    memory_bytes: int | None
    basis: str
    plan: JobPlan | None = None


def predicted_execution(spec: JobSpec) -> str:
    """Simulated when any step is (its speed would be the float model's), else real."""
    configs = spec.configs()
    return SIMULATED if any(c.planned_execution() == SIMULATED for c in configs) else "real"


def job_shape(spec: JobSpec, device: str, *, parameters: int | None, baseline_stored: bool,
              bundled_converted: bool = True) -> JobShape:
    """What the plan needs of a job, from its spec and what is known about its model."""
    return JobShape(
        parameters=parameters, device=device, windows=spec.measure.eval_windows,
        baseline_scope=spec.measure.baseline_scope(),
        result_scope=spec.measure.result_scope(predicted_execution(spec)),
        baseline_stored=baseline_stored, diagnostics=spec.measure.diagnostics and bool(spec.steps),
        save=spec.save_model, bundled_converted=bundled_converted,
        bundled=spec.model in ("", "default"), export=spec.export is not None,
    )


def memory_bytes(spec: JobSpec, parameters: int | None) -> int | None:
    """The model, a float copy where one is kept (per-layer diagnostics, a distillation
    teacher), and working room for activations."""
    if parameters is None:
        return None
    copies = 1.5
    recipes = {step.recipe for step in spec.steps}
    if spec.steps and (spec.measure.diagnostics or "logit-distillation" in recipes):
        copies += 1.0
    return int(parameters * BYTES.get(spec.dtype, 4) * copies)


def estimate(spec: JobSpec, device: str, *, parameters: int | None, baseline_stored: bool,
             corrections: Corrections = NO_CORRECTIONS, bundled_converted: bool = True) -> Estimate:
    """How long and how much memory a job will take, with its basis in words."""
    shape = job_shape(spec, device, parameters=parameters, baseline_stored=baseline_stored,
                      bundled_converted=bundled_converted)
    plan = plan_job(shape, spec.configs(), corrections)
    memory = memory_bytes(spec, parameters)
    if parameters is None:
        return Estimate(None, memory, plan.basis, plan)
    return Estimate(plan.total_s, memory, plan.basis, plan)


def estimate_job(engine: Engine, spec: JobSpec, device: str, *,
                 shape: ModelShape | None = None) -> Estimate:
    """The estimate of `spec` on `device` as the queue stands: its model's size (from `shape`,
    or its config where one is at hand without asking the Hub), whether its baseline is
    stored already, and what recent jobs on the device really took."""
    from core.jobs.results import baseline_keys, has_baseline
    from core.jobs.store import recent_timings

    model = parse_model_ref(spec.model)
    if shape is None:
        lookup = lookup_config(model, ask_hub=False)
        shape = ModelShape.from_config(lookup.config) if lookup.found else None
    keys = baseline_keys(model.key, device, spec.dtype, spec.measure)
    converted = (models_dir() / BUNDLED_CHECKPOINT / "config.json").is_file()
    parameters = shape.parameters() if shape else None
    return estimate(spec, device, parameters=parameters,
                    baseline_stored=has_baseline(engine, keys),
                    corrections=Corrections.from_history(recent_timings(engine, device, limit=200),
                                                         parameters),
                    bundled_converted=converted)


def format_seconds(seconds: float) -> str:
    """A duration as a person reads it: '40 s', '3 min', '1.5 h'."""
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    if seconds < 90 * 60:
        return f"{round(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"
