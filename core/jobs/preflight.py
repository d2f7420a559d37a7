"""Before a job is queued: everything about it that can be checked without loading weights.

The model's config.json (from the bundled model's known shape, a local folder, the local
Hugging Face cache or the Hub), each step's settings against the layer shapes it gives (a
group size that must divide every target layer's input dimension, a layer drop that must
remove something), a draft model's vocabulary, and whether a running worker serves the
device. What cannot be checked from here is said, with why, rather than passed over.

Torch-free: the web app runs it on every edit of the launch form."""

from __future__ import annotations

from dataclasses import dataclass, field

from core.engine.model_configs import lookup_config
from core.engine.model_refs import ModelNotFoundError, ModelSpec, parse_model_ref
from core.engine.model_shapes import ModelShape
from core.jobs.spec import JobSpec
from core.text import quoted


@dataclass(frozen=True)
class WorkerSeat:
    """What the check needs to know of a running worker: its device and host."""

    device: str
    host: str


@dataclass
class Preflight:
    """The check's findings: problems refuse the job; `unchecked` says what could not be
    checked from here and why; `checked` says what was."""

    problems: list[str] = field(default_factory=list)
    unchecked: list[str] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)
    shape: ModelShape | None = None

    @property
    def ok(self) -> bool:
        """True when nothing rules the job out."""
        return not self.problems

    def summary(self) -> str:
        """The problems as one message (what a refused submit says)."""
        return "; ".join(self.problems)


def check_job(spec: JobSpec, *, workers: list[WorkerSeat] | None, host: str) -> Preflight:
    """Check `spec` (already validated) against its model's shapes and the running workers.
    `workers` is None when the job runs in this process (the command line without an
    executor): then the device is the caller's to check, and this machine loads the model."""
    found = Preflight()
    local_only = workers is None or _served_here_only(spec.device, workers, host)
    model = parse_model_ref(spec.model)
    found.shape = _model_shape(model, spec.model, found, local_only)
    _check_steps(spec, found)
    if workers is not None:
        _check_device(spec.device, workers, found)
    return found


def _served_here_only(device: str, workers: list[WorkerSeat], host: str) -> bool:
    # When every worker that could take the job runs on this machine, what this machine
    # cannot reach, the job cannot either.
    serving = [w for w in workers if w.device == device or device == "auto"]
    return all(w.host == host for w in serving)


def _model_shape(model: ModelSpec, typed: str, found: Preflight,
                 local_only: bool) -> ModelShape | None:
    lookup = lookup_config(model)
    name = quoted(typed or "default")
    if lookup.status in ("missing", "unreadable"):
        found.problems.append(f"model {name}: {lookup.detail}")
        return None
    if lookup.status == "exists":
        found.unchecked.append(f"model {name}: its layer shapes were not checked: {lookup.detail}")
        return None
    if not lookup.found:
        if local_only:
            found.problems.append(f"model {name} cannot be loaded here: {lookup.detail}, so "
                                  "the worker on this machine could not load it either")
        else:
            found.unchecked.append(f"model {name} was not checked: {lookup.detail}; the "
                                   "worker that takes the job looks for it itself")
        return None
    found.checked.append(f"model {name}: config.json from {lookup.detail}")
    shape = ModelShape.from_config(lookup.config)
    if shape is None:
        kind = lookup.config.get("model_type") or "unknown"
        found.unchecked.append(f"the layer shapes of a {quoted(kind, 40)} model are not known "
                               "here: group sizes and patterns are checked when the job runs")
    return shape


def _check_steps(spec: JobSpec, found: Preflight) -> None:
    shape = found.shape
    for index, config in enumerate(spec.configs(), start=1):
        label = f"step {index} ({config.recipe})"
        draft = getattr(config, "draft_model", "")
        if draft and shape is not None:
            _check_draft(draft, shape, label, found)
        if shape is None:
            continue
        problems = config.shape_problems(shape)
        found.problems.extend(f"{label}: {problem}" for problem in problems)
        shape = config.shape_after(shape)
        if shape is None and index < len(spec.steps) and not problems:
            found.unchecked.append(f"the shapes after {label} depend on the weights: later "
                                   "steps are checked when the job runs")
    if found.shape is not None and spec.steps and not found.problems:
        found.checked.append("settings fit every target layer's shape")


def _check_draft(draft: str, target: ModelShape, label: str, found: Preflight) -> None:
    try:
        lookup = lookup_config(parse_model_ref(draft))
    except ModelNotFoundError as error:
        found.problems.append(f"{label}: draft model: {error}")
        return
    if lookup.status in ("missing", "unreadable"):
        found.problems.append(f"{label}: draft model {quoted(draft)}: {lookup.detail}")
    elif not lookup.found:
        found.unchecked.append(f"{label}: draft model {quoted(draft)} was not checked: "
                               f"{lookup.detail}")
    elif lookup.config.get("vocab_size") not in (None, target.vocab):
        found.problems.append(
            f"{label}: draft model {quoted(draft)} has a vocabulary of "
            f"{lookup.config.get('vocab_size')} tokens, the target {target.vocab}: a draft must "
            "share the target's tokenizer")


def _check_device(device: str, workers: list[WorkerSeat], found: Preflight) -> None:
    served = sorted({w.device for w in workers})
    # A plain "cuda" job goes to any GPU; a Ray cluster names its GPUs by type (cuda@H100).
    if device == "auto" or device in served or \
            (device == "cuda" and any(d.startswith("cuda@") for d in served)):
        return
    if device == "cpu":
        found.unchecked.append("no worker is running now: the job waits in the queue until one "
                               "starts (`optatlas serve` or `optatlas executor` starts them)")
        return
    now = ", ".join(served) if served else "none"
    found.problems.append(
        f"no running worker serves {quoted(device, 20)} (devices served now: {now}); start one "
        f"on the machine with that GPU: optatlas worker --device {quoted(device, 20)[1:-1]}")
