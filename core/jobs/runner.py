"""Run one job's recipe with the engine: load the model, measure (or reuse) its baseline,
apply the steps in order, measure the result, diagnose its layers, optionally save it.

Knows nothing of the database: the worker hands it hooks for progress, cancellation and the
shared baseline store, and records what it returns."""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import core.distillation  # noqa: F401  (registers knowledge distillation)
import core.inference  # noqa: F401  (registers the inference-time recipes)
import core.lowrank  # noqa: F401  (registers low-rank factorization)
import core.pruning  # noqa: F401  (registers the pruning recipes)
import core.quantization  # noqa: F401  (registers the quantization recipes)
from core.engine.data import load_corpus
from core.engine.measure import baseline_outputs, measure_model
from core.engine.metrics import REAL, SIMULATED
from core.engine.models import LoadedModel, load_model
from core.engine.results import Measurement
from core.export.exports import ExportedModel
from core.jobs.artifacts import SavedModel, save_model
from core.jobs.results import baseline_keys
from core.jobs.spec import JobSpec, MeasureSettings
from core.quantization.packed_size import HOW as PACKED_HOW
from core.quantization.packed_size import packed_size_computed
from core.quantization.targets import layer_bytes, target_linears
from core.techniques.calibration import calibration_data
from core.techniques.context import ApplyContext
from core.techniques.registry import apply

# Calibration windows are as long as evaluation windows (the engine's default protocol).
CALIBRATION_SEQ_LEN = 512
# Per-layer diagnostics look at where the error sits; a few sequences show the ranking.
DIAGNOSTIC_SEQUENCES = 4


@dataclass
class RunHooks:
    """How a running job talks to the outside world."""

    progress: Callable[[str, float, str], None]  # stage, fraction of it, message
    check_cancel: Callable[[], None]  # raises JobCancelled when the user asked to stop
    find_baseline: Callable[[str], Measurement | None]
    save_baseline: Callable[[Measurement, str], Measurement]
    log: Callable[[str], None] = print


@dataclass
class JobOutcome:
    """What a finished job produced."""

    measurement: Measurement
    baseline: Measurement
    diagnostics: list[dict] | None = None
    saved: SavedModel | None = None
    notes: list[str] = field(default_factory=list)


# Said beside a simulated result whose speed was not timed under speed "auto".
SPEED_LEFT_OUT = ("speed not timed: a simulated run computes in float, so its speed would be "
                  "the float model's, not the technique's (measure speed 'full' to time it anyway)")


def _stage_reporter(hooks: RunHooks, prefix: str):
    def report(stage: str, fraction: float) -> None:
        hooks.progress(f"{prefix}: {stage}" if prefix else stage, fraction, "")

    return report


def _baseline(loaded: LoadedModel, settings: MeasureSettings, hooks: RunHooks) -> Measurement:
    keys = baseline_keys(loaded.spec.key, str(loaded.device),
                         str(loaded.dtype).removeprefix("torch."), settings)
    for key in keys.reuse:
        stored = hooks.find_baseline(key)
        if stored is not None:
            hooks.log(f"baseline: reusing the stored measurement of {loaded.spec.label}")
            return stored
    hooks.log(f"baseline: measuring {loaded.spec.label} once; later jobs reuse it")
    measured = measure_model(loaded, settings.engine_config(settings.baseline_scope()),
                             name="baseline", progress=_stage_reporter(hooks, "baseline"))
    return hooks.save_baseline(measured, keys.measure)


def run_job(job_id: int, spec: JobSpec, hooks: RunHooks, *, device: str,
            save_to: Path | None = None) -> JobOutcome:
    """Run `spec` on `device`; raise JobCancelled, or the error that ended it."""
    configs = spec.configs()
    hooks.progress("loading model", 0.0, spec.model)
    # load_model reports in messages (the one-time GGUF conversion of the bundled model).
    loaded = load_model(spec.model, device=device, dtype=spec.dtype,
                        progress=lambda message: hooks.progress("loading model", 0.0, message))
    hooks.log(f"loaded {loaded.spec.label} on {loaded.device} ({loaded.dtype}) in "
              f"{loaded.load_s:.1f} s")
    # Quality settings alone fix the comparison outputs; the speed scope is chosen per
    # measurement (the result's once its execution is known).
    config = spec.measure.engine_config("none")
    baseline = _baseline(loaded, spec.measure, hooks)
    if not configs:
        return JobOutcome(measurement=baseline, baseline=baseline)
    hooks.check_cancel()
    # Outputs of the unmodified model: from the engine's cache when the baseline was just
    # measured here; computed once otherwise. Taken before any step changes the model.
    hooks.progress("baseline outputs", 0.0, "")
    outputs = baseline_outputs(loaded, config)
    reference = copy.deepcopy(loaded.model) if spec.measure.diagnostics else None
    calibration = _calibration_for(configs, loaded, config, hooks)
    original = _original_model(spec, loaded, reference)
    layers = target_linears(loaded.model)
    dense_bytes = layer_bytes(loaded.model, layers)
    start = time.perf_counter()
    reports = _apply_steps(configs, loaded, calibration, original, hooks)
    compression_s = time.perf_counter() - start
    hooks.check_cancel()
    execution = SIMULATED if any(r.execution == SIMULATED for r in reports) else REAL
    scope = spec.measure.result_scope(execution)
    measurement = measure_model(loaded, spec.measure.engine_config(scope), name=spec.name(),
                                baseline=outputs, execution=execution,
                                progress=_stage_reporter(hooks, "measure"))
    measurement.metrics["compression_s"] = compression_s
    measurement.metrics["layer_bytes_ratio"] = (layer_bytes(loaded.model, layers) / dense_bytes
                                                if dense_bytes else None)
    # The checkpoint on disk is the original model's; the compressed one has a size on disk
    # only once it is saved (set below).
    measurement.metrics["disk_bytes"] = None
    packed = packed_size_computed(loaded.model)
    if packed is not None:
        measurement.metrics["packed_bytes_computed"] = packed
        measurement.notes.append(PACKED_HOW)
    if spec.measure.speed == "auto" and scope == "none":
        measurement.notes.append(SPEED_LEFT_OUT)
    measurement.notes.extend(f"{r.recipe}: simulated because {r.details['simulated_because']}"
                             for r in reports if "simulated_because" in r.details)
    outcome = JobOutcome(measurement=measurement, baseline=baseline)
    if reference is not None:
        outcome.diagnostics = _diagnose(reference, loaded, calibration, reports, hooks, outcome)
        del reference
    if spec.save_model and save_to is not None:
        hooks.progress("saving model", 0.0, str(save_to))
        try:
            outcome.saved = save_model(loaded, save_to, job_id=job_id, spec=spec,
                                       measurement=measurement)
            measurement.metrics["disk_bytes"] = outcome.saved.bytes
            hooks.log(f"saved the model to {outcome.saved.path} ({outcome.saved.bytes} bytes)")
        except (OSError, RuntimeError, TypeError, ValueError) as error:
            # The measurement stands; say why the weights could not be written.
            outcome.notes.append(f"the model was not saved: {error}")
            hooks.log(f"the model was not saved: {error}")
    measurement.notes.extend(outcome.notes)
    return outcome


def _apply_steps(configs, loaded: LoadedModel, calibration, original, hooks: RunHooks) -> list:
    """Apply the steps in order; their reports."""
    reports = []
    for index, step in enumerate(configs, start=1):
        hooks.check_cancel()
        label = f"step {index}/{len(configs)} {step.recipe}"
        hooks.log(f"{label}: {step.to_json()}")
        context = ApplyContext(device=loaded.device, calibration=calibration,
                               progress=_stage_reporter(hooks, label), original=original,
                               tokenizer=loaded.tokenizer)
        reports.append(apply(loaded.model, step, context))
        hooks.log(f"{label}: changed {reports[-1].modules} modules")
    return reports


def _calibration_for(configs, loaded: LoadedModel, config, hooks: RunHooks):
    if not any(c.requirements.calibration for c in configs):
        return None
    hooks.progress("calibration data", 0.0, "")
    return calibration_data(loaded.tokenizer, load_corpus(config.corpus),
                            samples=_calibration_samples(configs), seq_len=CALIBRATION_SEQ_LEN)


@dataclass
class ExportOutcome:
    """What an export job produced: the file and its read-back check."""

    exported: ExportedModel
    line: str


def run_export(spec: JobSpec, hooks: RunHooks, *, device: str, folder: Path) -> ExportOutcome:
    """Rebuild the model `spec` describes (its steps, deterministic given the calibration
    text), write it as `spec.export.format` into `folder`, read it back and score it on the
    job's protocol. Raise ExportError when it cannot be written or reads back off by more
    than the tolerance."""
    from core.export.exports import TOLERANCE, ExportError, export_model
    from core.export.formats import describe

    request = spec.export
    configs = spec.configs()
    hooks.progress("loading model", 0.0, spec.model)
    loaded = load_model(spec.model, device=device, dtype=spec.dtype,
                        progress=lambda message: hooks.progress("loading model", 0.0, message))
    config = spec.measure.engine_config("none")
    calibration = _calibration_for(configs, loaded, config, hooks)
    _apply_steps(configs, loaded, calibration,
                 _original_model(spec, loaded, None), hooks)
    hooks.check_cancel()
    exported = export_model(loaded.model, loaded.tokenizer, request.format, folder,
                            name=f"OptAtlas job {request.of_job}", measure=config,
                            reference_ppl=request.reference_ppl,
                            progress=_stage_reporter(hooks, "export"))
    line = describe(exported.format, exported.bytes, exported.details)
    hooks.log(f"exported job {request.of_job}: {line}")
    check = exported.details.get("readback", {})
    if check.get("within_tolerance") is False:
        raise ExportError(f"the {request.format} export reads back at perplexity "
                          f"{check['ppl']:.4g}, {check['change']:+.2%} from the job's "
                          f"{check['reference_ppl']:.4g} (more than {TOLERANCE:.0%}); it is "
                          f"kept at {exported.path} for inspection but not recorded")
    return ExportOutcome(exported, line)


def _original_model(spec: JobSpec, loaded: LoadedModel, reference):
    """A callable giving the unmodified model (a distillation teacher), loaded at most once:
    the copy kept for diagnostics when there is one, else a fresh load."""
    cache: dict = {}

    def original():
        if "model" not in cache:
            cache["model"] = reference if reference is not None else load_model(
                spec.model, device=str(loaded.device), dtype=spec.dtype).model
        return cache["model"]

    return original


def _calibration_samples(configs) -> int:
    # The most any step asks for; each step uses at most what it asked.
    wanted = [c.calibration_samples for c in configs if hasattr(c, "calibration_samples")]
    return max(wanted, default=32)


def _diagnose(reference, loaded: LoadedModel, calibration, reports, hooks: RunHooks,
              outcome: JobOutcome) -> list[dict] | None:
    """Per-layer error and outlier rows, or None with a note saying why not."""
    from core.quantization.diagnostics import RescaledModelError, layer_diagnostics

    if calibration is None:
        ids = None
    else:
        ids = calibration.input_ids[:DIAGNOSTIC_SEQUENCES]
    if ids is None:
        corpus_ids = loaded.tokenizer(load_corpus("pydoc").split("calibration"),
                                      return_tensors="pt", add_special_tokens=False).input_ids[0]
        usable = (len(corpus_ids) // CALIBRATION_SEQ_LEN)
        count = min(DIAGNOSTIC_SEQUENCES, usable)
        ids = corpus_ids[: count * CALIBRATION_SEQ_LEN].reshape(count, CALIBRATION_SEQ_LEN)
    rescales = [rescale for report in reports for rescale in report.rescales]
    try:
        rows = layer_diagnostics(reference, loaded.model, ids, rescales=rescales,
                                 progress=_stage_reporter(hooks, ""))
    except (RescaledModelError, ValueError) as error:
        outcome.notes.append(f"per-layer diagnostics not available: {error}")
        return None
    return [row.to_dict() for row in rows]
