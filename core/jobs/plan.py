"""A job's plan: the phases it will go through, each with the seconds it is expected to take.

The launch page's estimate and a running job's overall progress come from the same plan, so
the bar moves in proportion to the time the work takes and only ever grows. Predictions start
from a cost model measured on this project's 2-core CI CPU and are corrected by what recent
jobs on the same device really took (`Corrections`). Torch-free."""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass, replace

from core.recipes.base import TechniqueConfig

# SmolLM2-135M (134.5 M parameters) under the default protocol: 16 evaluation windows in
# about 22 s; the full speed suite (prefill, TTFT, decode at batch 1 and 8, bandwidth) in
# about 50 s and batch-1 decode alone in about 12 s as measured on the old decode loop, plus
# about 12 s for transformers generate timed beside batch 1 (7 runs of 32 tokens at the 20
# tok/s bench.decode measured). An estimate until recent jobs' timings correct it.
QUALITY_S_PER_WINDOW = 22.0 / 16 / 134.5
SPEED_S = {"full": 62.0 / 134.5, "decode_b1": 24.0 / 134.5}
# What every phase costs whatever the model's size (tokenizing, warm-up, Python; the speed
# phases include compiling the decode step: bench.decode measured 9-17 s a batch size with
# a warm compiler cache, 15 s is taken).
FIXED_S = {"load": 1.0, "quality": 1.5, "speed_full": 34.0, "speed_b1": 17.0, "reference": 1.0,
           "calibration": 0.5, "step": 0.5, "diagnostics": 1.0, "save": 1.0}
# The bundled model's first load converts its GGUF file to a float checkpoint (about 30 s).
BUNDLED_CONVERSION_S = 30.0
LOAD_S_PER_MPARAM = 0.01
DIAGNOSTICS_S_PER_MPARAM = 0.12
SAVE_S_PER_MPARAM = 0.03
# Writing an export: a float copy, packing, and (GGUF) re-encoding block by block.
EXPORT_S_PER_MPARAM = 0.1
# Each recipe's own work per million parameters at its default calibration size (32
# sequences where it takes some), measured by bench/quantization.py and bench/pruning.py on
# the bundled model: GPTQ W4 73.6 s, AWQ 138.5 s, RTN 0.9 s, W8A8 0.5 s, ...
STEP_S_PER_MPARAM = {
    "rtn": 0.007, "gptq": 0.55, "awq": 1.03, "w8a8": 0.004, "smoothquant": 0.08,
    "llm-int8": 0.03, "quanto": 0.02, "bnb-nf4": 0.02, "torchao-int4": 0.02, "fp8": 0.02,
    "magnitude-pruning": 0.005, "wanda": 0.1, "sparsegpt": 0.6, "nm-sparsity": 0.3,
    "layer-drop": 0.06, "mlp-channel-pruning": 0.06, "head-pruning": 0.06, "svd-lowrank": 0.35,
    "quantized-kv-cache": 0.001, "attention-implementation": 0.001,
    "static-cache-compile": 0.3, "speculative-decoding": 0.06, "prompt-lookup-decoding": 0.001,
}
UNKNOWN_STEP_S_PER_MPARAM = 0.2
DEFAULT_CALIBRATION = 32
# Distillation: seconds per training sequence per million parameters (100 steps of 2
# sequences of 512 tokens took about 540 s on the bundled model).
DISTILLATION_S_PER_SEQUENCE_MPARAM = 540.0 / 200 / 134.5
# A GPU runs the same work many times faster; corrections learn the real factor.
GPU_SPEEDUP = 10.0
# How many recent jobs on a device the corrections learn from, and how far their model's size
# may lie from this one's: a tiny model's fixed costs say nothing of a 135 M model's rates.
HISTORY_JOBS = 20
SIZE_MATCH = 4.0
# Tokenizing calibration text and reading cached baseline outputs grow with the model too.
CALIBRATION_S_PER_MPARAM = 0.05
REFERENCE_S_PER_MPARAM = 0.03


@dataclass(frozen=True)
class Phase:
    """One stretch of a job: its key, what a person reads, the kind of work it does (what
    corrections learn per), and its predicted seconds."""

    key: str
    label: str
    kind: str
    seconds: float


@dataclass(frozen=True)
class JobPlan:
    """The phases of one job, in order, and what the predictions rest on."""

    phases: tuple[Phase, ...]
    basis: str
    parameters: int | None = None  # the model's, so that corrections learn from like sizes

    @property
    def total_s(self) -> float:
        """Predicted seconds of the whole job."""
        return sum(phase.seconds for phase in self.phases)

    def keys(self) -> list[str]:
        """The phases' keys, in order."""
        return [phase.key for phase in self.phases]

    def fraction(self, key: str, within: float) -> float | None:
        """The share of the whole job done when phase `key` is `within` (0-1) done; None for
        a phase this plan does not have."""
        done = 0.0
        for phase in self.phases:
            if phase.key == key:
                total = self.total_s or 1.0
                return min(1.0, (done + max(0.0, min(1.0, within)) * phase.seconds) / total)
            done += phase.seconds
        return None

    def remaining_s(self, fraction: float) -> float:
        """Predicted seconds left when `fraction` of the job is done."""
        return max(0.0, self.total_s * (1.0 - fraction))

    def to_record(self) -> list[dict]:
        """The plan as JSON, kept with the job so that corrections can learn from it."""
        return [{"key": p.key, "kind": p.kind, "planned_s": round(p.seconds, 2)}
                for p in self.phases]


@dataclass(frozen=True)
class JobShape:
    """What a plan needs to know of a job, all known before it runs."""

    parameters: int | None
    device: str
    windows: int
    baseline_scope: str  # speed timed with the baseline: full, decode_b1 or none
    result_scope: str  # speed timed with the result (none for a simulated run under auto)
    baseline_stored: bool
    diagnostics: bool
    save: bool
    bundled_converted: bool = True  # False: the bundled model's first load converts it
    bundled: bool = False
    export: bool = False  # an export job: rebuild, write, read back; no measurement


class Corrections:
    """How much longer (or shorter) each kind of phase really took on a device than the
    cost model said: the median ratio over recent jobs, per kind."""

    def __init__(self, ratios: dict[str, float], jobs: int) -> None:
        self.ratios, self.jobs = ratios, jobs

    @classmethod
    def from_history(cls, records: Iterable[dict], parameters: int | None = None) -> Corrections:
        """Learn from stored timings ({"plan": [...], "phases": {key: seconds},
        "parameters": N}), newest first: at most HISTORY_JOBS of them, and given
        `parameters`, only jobs on a model within SIZE_MATCH times that size."""
        samples: dict[str, list[float]] = {}
        jobs = 0
        if parameters:
            records = [r for r in records if r.get("parameters")
                       and 1 / SIZE_MATCH <= r["parameters"] / parameters <= SIZE_MATCH]
        for record in list(records)[:HISTORY_JOBS]:
            actual = record.get("phases") or {}
            used = False
            for phase in record.get("plan") or []:
                seconds, planned = actual.get(phase.get("key")), phase.get("planned_s")
                if seconds is None or not planned or planned <= 0:
                    continue
                samples.setdefault(phase["kind"], []).append(seconds / planned)
                used = True
            jobs += used
        ratios = {kind: statistics.median(values) for kind, values in samples.items()}
        return cls(ratios, jobs)

    def factor(self, kind: str) -> float:
        """The correction of one kind: its own, else the median of the device's others."""
        if kind in self.ratios:
            return self.ratios[kind]
        return statistics.median(self.ratios.values()) if self.ratios else 1.0


NO_CORRECTIONS = Corrections({}, 0)


def _step_seconds(config: TechniqueConfig, mparams: float) -> float:
    if config.recipe == "logit-distillation":
        sequences = config.steps * config.batch_size
        seconds = sequences * DISTILLATION_S_PER_SEQUENCE_MPARAM * mparams
        return min(seconds, config.time_budget_s) if config.time_budget_s else seconds
    rate = STEP_S_PER_MPARAM.get(config.recipe, UNKNOWN_STEP_S_PER_MPARAM)
    samples = getattr(config, "calibration_samples", None)
    scale = samples / DEFAULT_CALIBRATION if samples else 1.0
    return FIXED_S["step"] + rate * mparams * scale


def plan_job(shape: JobShape, steps: list[TechniqueConfig],
             corrections: Corrections = NO_CORRECTIONS) -> JobPlan:
    """The phases a job with this shape and these steps goes through, with predictions."""
    # Unknown size: every phase weighs the same, so progress still grows; no seconds claimed.
    mparams = (shape.parameters or 0) / 1e6
    known = shape.parameters is not None
    gpu = shape.device.startswith("cuda")
    raw: list[tuple[str, str, str, float]] = []
    load = LOAD_S_PER_MPARAM * mparams
    if shape.bundled and not shape.bundled_converted:
        load += BUNDLED_CONVERSION_S
    raw.append(("load", "loading the model", "load", FIXED_S["load"] + load))

    def measurement(prefix: str, label: str, scope: str) -> None:
        raw.append((f"{prefix}.quality", f"{label}: quality", "quality",
                    FIXED_S["quality"] + QUALITY_S_PER_WINDOW * shape.windows * mparams))
        if scope != "none":
            kind = "speed_full" if scope == "full" else "speed_b1"
            raw.append((f"{prefix}.speed", f"{label}: speed", kind,
                        FIXED_S[kind] + SPEED_S[scope] * mparams))

    if shape.export:
        _export_phases(raw, steps, mparams, shape.windows)
    elif not shape.baseline_stored:
        measurement("baseline", "baseline", shape.baseline_scope)
    if steps and not shape.export:
        if shape.baseline_stored:
            # The comparison outputs of a stored baseline are usually cached too; when not,
            # this is one more quality pass.
            raw.append(("reference", "baseline outputs", "reference",
                        FIXED_S["reference"] + REFERENCE_S_PER_MPARAM * mparams))
        _step_phases(raw, steps, mparams)
        measurement("measure", "measure", shape.result_scope)
        if shape.diagnostics:
            raw.append(("diagnostics", "per-layer diagnostics", "diagnostics",
                        FIXED_S["diagnostics"] + DIAGNOSTICS_S_PER_MPARAM * mparams))
        if shape.save:
            raw.append(("save", "saving the model", "save",
                        FIXED_S["save"] + SAVE_S_PER_MPARAM * mparams))
    phases = []
    for key, label, kind, seconds in raw:
        predicted = (seconds / GPU_SPEEDUP if gpu else seconds) * corrections.factor(kind)
        phases.append(Phase(key, label, kind, predicted if known else 1.0))
    return JobPlan(tuple(phases), _basis(shape, corrections, known), shape.parameters)


def _step_phases(raw: list, steps: list[TechniqueConfig], mparams: float) -> None:
    # Calibration text (when a step needs it), then each step's own work.
    if any(step.requirements.calibration for step in steps):
        raw.append(("calibration", "calibration data", "calibration",
                    FIXED_S["calibration"] + CALIBRATION_S_PER_MPARAM * mparams))
    for index, step in enumerate(steps, start=1):
        raw.append((f"step.{index}", f"step {index}/{len(steps)} {step.recipe}",
                    f"step:{step.recipe}", _step_seconds(step, mparams)))


def _export_phases(raw: list, steps: list[TechniqueConfig], mparams: float,
                   windows: int) -> None:
    # An export job rebuilds the model (its steps), writes the file and scores it read back.
    _step_phases(raw, steps, mparams)
    raw.append(("export", "writing the export", "save",
                FIXED_S["save"] + EXPORT_S_PER_MPARAM * mparams))
    raw.append(("readback", "reading the export back", "quality",
                FIXED_S["quality"] + LOAD_S_PER_MPARAM * mparams
                + QUALITY_S_PER_WINDOW * windows * mparams))


def _basis(shape: JobShape, corrections: Corrections, known: bool) -> str:
    if not known:
        return "the model's size is not known here: no time estimate"
    where = "a 2-core CPU, a GPU taken as ten times faster" if shape.device.startswith("cuda") \
        else "a 2-core CPU"
    if corrections.jobs:
        return (f"a cost model for {where}, corrected by {corrections.jobs} recent job(s) on "
                f"{shape.device} with a model of similar size")
    return f"a cost model for {where}; no finished job on {shape.device} to learn from yet"


def without_phases(plan: JobPlan, prefix: str) -> JobPlan:
    """The plan less the phases whose key starts with `prefix` (a baseline found stored)."""
    return replace(plan, phases=tuple(p for p in plan.phases if not p.key.startswith(prefix)))
