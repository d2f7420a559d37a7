"""The UI's and the CLI's door to the chooser: the hardware to choose from, the evidence the
atlas holds (measured runs, the gallery's, the taxonomy's reported results), one answer for
a question, the Launch address that verifies an option, and the answer as JSON.

Torch-free, like the rest of the app."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

from core.chooser.evidence import Evidence, parameters_in, reported_evidence
from core.chooser.hardware import Device, HardwareError, load_hardware
from core.chooser.models import PRESETS, ChooserModel, resolve_model
from core.chooser.query import Hardware, Query, Workload
from core.chooser.rank import Answer, Option, choose
from core.chooser.rules import Candidate, Rules, default_rules
from core.chooser.this_machine import MachineProfileError, this_machine
from core.recipes import build_config
from core.recipes.base import InvalidRecipeError

THIS_MACHINE = "this-machine"
PRESET_NOTE = ("a size preset has no weights to run: Verify opens Launch on the bundled model "
               "(SmolLM2-135M), where the recipe runs in minutes on a CPU")


@dataclass(frozen=True)
class Question:
    """A question as the page and the CLI take it: names and numbers, not objects."""

    model: str = "8B"
    hardware: str = "h100-sxm"
    count: int = 1
    batch: int = 1
    prompt: int = 1024
    output: int = 256
    goal: str = "latency"
    tolerance: str = "small"
    calibration_data: bool = True
    gpu_hours: float = 8.0  # a working day on one GPU
    engine: str | None = None


class ChooserInputError(ValueError):
    """A question the chooser cannot answer as asked; the message says what to change."""


def hardware_options(*, measure: bool = False) -> dict[str, Device]:
    """The devices to choose from: the data file's, and this machine where it has been
    measured (`measure` runs the measurement when it has not)."""
    devices = dict(load_hardware())
    try:
        devices[THIS_MACHINE] = this_machine(refresh=False) if measure else _cached_machine()
    except MachineProfileError:
        if measure:
            raise
    return {key: device for key, device in devices.items() if device is not None}


def _cached_machine() -> Device | None:
    # Only what is cached: the page never waits for a measurement it was not asked for.
    from core.chooser.this_machine import cached_profile, device_from_profile

    profile = cached_profile()
    return device_from_profile(profile) if profile is not None else None


def _device(key: str) -> Device:
    try:
        devices = hardware_options(measure=key == THIS_MACHINE)
    except (HardwareError, MachineProfileError) as error:
        raise ChooserInputError(str(error)) from None
    if key not in devices:
        raise ChooserInputError(f"no device is called {key[:60]!r}; known: "
                                f"{', '.join(devices)}")
    return devices[key]


def _matches(candidate: Candidate, steps: list) -> bool:
    """Whether a run's steps are the candidate's: the same recipes in order, each with the
    same settings once defaults are filled in."""
    if not candidate.steps or len(steps) != len(candidate.steps):
        return False
    for wanted, done in zip(candidate.steps, steps, strict=True):
        if wanted.recipe != done.get("recipe"):
            return False
        try:
            want = build_config(wanted.recipe, dict(wanted.settings)).model_dump()
            have = build_config(done["recipe"], dict(done.get("settings") or {})).model_dump()
        except InvalidRecipeError:
            return False
        # Every setting, defaults included: a run at other settings is other evidence.
        want.pop("version", None)
        have.pop("version", None)
        if have != want:
            return False
    return True


def _protocol_text(protocol: dict) -> str:
    if not protocol:
        return "protocol not recorded"
    return (f"{protocol.get('corpus', '?')} ({protocol.get('split', '?')}), "
            f"{protocol.get('windows', '?')} windows of {protocol.get('seq_len', '?')} tokens, "
            "token-level perplexity")


def measured_evidence(rules: Rules, frame) -> dict[str, list[Evidence]]:
    """OptAtlas's own runs (here and the gallery's) whose steps are a candidate's, each
    against its baseline."""
    from app.results_service import baseline_of, value_of

    found: dict[str, list[Evidence]] = {}
    if frame is None or frame.empty or "steps" not in frame:
        return found
    for _, run in frame[frame["kind"] != "baseline"].iterrows():
        ppl = value_of(run, "ppl")
        if ppl is None or not math.isfinite(ppl):
            continue
        for candidate in rules.candidates:
            if not _matches(candidate, list(run["steps"])):
                continue
            base = baseline_of(frame, run)
            kind = "gallery" if run["source"] == "gallery" else "measured"
            found.setdefault(candidate.key, []).append(Evidence(
                kind=kind, model=str(run["model"]), parameters=parameters_in(str(run["model"])),
                setting=str(run["recipe"]), metric="token perplexity",
                baseline=value_of(base, "ppl") if base is not None else None, value=ppl,
                protocol=_protocol_text(run["protocol"]), source=str(run["measured_how"]),
                result_id=int(run["result_id"])))
    return found


def taxonomy_evidence(rules: Rules, catalog) -> dict[str, list[Evidence]]:
    """The taxonomy's reported perplexities for each candidate's nodes."""
    found: dict[str, list[Evidence]] = {}
    for candidate in rules.candidates:
        for slug in candidate.nodes:
            node = catalog.get(slug)
            if node is not None:
                found.setdefault(candidate.key, []).extend(
                    reported_evidence(candidate, slug, node.reported_results))
    return found


def merge(*sources: dict[str, list[Evidence]]) -> dict[str, list[Evidence]]:
    merged: dict[str, list[Evidence]] = {}
    for source in sources:
        for key, items in source.items():
            merged.setdefault(key, []).extend(items)
    return merged


def model_for(ref: str) -> ChooserModel:
    from core.chooser.models import UnknownModelShape

    try:
        return resolve_model(ref)
    except UnknownModelShape as error:
        raise ChooserInputError(str(error)) from None


def answer(question: Question, evidence: dict[str, list[Evidence]] | None = None,
           *, rules: Rules | None = None) -> Answer:
    """The chooser's answer to `question`; ChooserInputError says what to change."""
    from core.chooser.query import InvalidQuery

    rules = rules or default_rules()
    model = model_for(question.model)
    device = _device(question.hardware)
    try:
        query = Query(model=model, hardware=Hardware(device, question.count),
                      workload=Workload(question.batch, question.prompt, question.output),
                      goal=question.goal, tolerance=question.tolerance,
                      calibration_data=question.calibration_data, gpu_hours=question.gpu_hours,
                      engine=question.engine or None)
    except InvalidQuery as error:
        raise ChooserInputError(str(error)) from None
    return choose(query, rules, evidence)


def verify_params(option: Option, model_ref: str) -> dict[str, str] | None:
    """The Launch address's query parameters that prefill the option's steps on the user's
    model (the bundled one for a size preset); None when OptAtlas cannot run it."""
    if not option.candidate.steps:
        return None
    steps = [{"recipe": step.recipe, "settings": dict(step.settings)}
             for step in option.candidate.steps]
    params = {"plan": json.dumps(steps, separators=(",", ":"))}
    ref = (model_ref or "").strip()
    if ref in PRESETS or ref in ("", "default"):
        params["model"] = "default"
    elif ref == "tiny":
        params["model"] = "tiny"
    else:
        from core.engine.model_refs import is_path_like

        params["model"] = "local" if is_path_like(ref) else "hub"
        params["model_ref"] = ref
    return params


ESTIMATE_NOTE = ("speeds are roofline estimates (bytes over memory bandwidth, FLOPs over peak "
                 "throughput; the larger bound), upper bounds that real kernels reach part of")


def _option_json(option: Option, model_ref: str, rank: int | None) -> dict:
    found, candidate = option.estimate, option.candidate

    def step(value):
        return None if value is None else {"bytes": value.bytes, "flops": value.flops,
                                           "seconds": value.seconds, "bound": value.bound}

    return {
        "rank": rank, "key": candidate.key, "name": candidate.name,
        "within_tolerance": option.within_tolerance,
        "memory": {"weights_bytes": found.memory.weights, "kv_cache_bytes": found.memory.kv_cache,
                   "activation_bytes": found.memory.activations,
                   "draft_bytes": found.draft_bytes, "total_bytes": found.total_bytes,
                   "usable_bytes": found.usable_bytes, "offloaded_bytes": found.offloaded_bytes,
                   "fits": found.fits},
        "speed": {"estimate": True, "batch": found.batch, "max_batch": found.max_batch,
                  "prefill": step(found.prefill), "decode": step(found.decode),
                  "decode_tok_s": found.decode_tok_s if found.fits else None,
                  "request_s": found.request_s if found.fits else None,
                  "throughput_tok_s": found.throughput_tok_s if found.fits else None,
                  "energy_j_per_tok": found.energy_j_per_tok, "note": candidate.speed_note},
        "risk": {"level": option.risk.level, "basis": option.risk.basis,
                 "reason": option.risk.reason,
                 "evidence": [item.describe() for item in option.risk.evidence]},
        "cost": {"gpu_hours": round(option.gpu_hours, 3), "calibration_data": candidate.calibration,
                 "training": candidate.training, "note": candidate.cost_note},
        "library": candidate.library, "engines": dict(candidate.engines),
        "engine_how": option.engine_how, "nodes": list(candidate.nodes),
        "steps": [{"recipe": s.recipe, "settings": dict(s.settings)} for s in candidate.steps],
        "verify": verify_params(option, model_ref), "exclusions": list(option.exclusions),
    }


def answer_json(result: Answer, question: Question) -> dict:
    """The answer as plain data (the CLI's --json, and what a script reads)."""
    query = result.query
    device = query.hardware.device
    return {
        "rules_version": result.rules_version, "estimate_note": ESTIMATE_NOTE,
        "model": {"ref": question.model, "name": query.model.name,
                  "parameters": query.model.parameters(),
                  "active_parameters": query.model.active_parameters(),
                  "source": query.model.source},
        "hardware": {"key": device.key, "name": device.name, "count": query.hardware.count,
                     "memory_gib": device.memory_gib, "bandwidth_gb_s": device.bandwidth_gb_s,
                     "measured": device.measured,
                     "sources": [source.url or source.title for source in device.sources]},
        "workload": {"batch": query.workload.batch, "prompt": query.workload.prompt,
                     "output": query.workload.output},
        "goal": query.goal, "ranks_by": result.goal_ranks_by, "tolerance": query.tolerance,
        "calibration_data": query.calibration_data, "gpu_hours": query.gpu_hours,
        "engine": query.engine, "problems": list(result.problems),
        "shortlist": [_option_json(option, question.model, rank)
                      for rank, option in enumerate(result.shortlist, start=1)],
        "baseline": _option_json(result.baseline, question.model, None),
        "excluded": [{"key": o.candidate.key, "name": o.candidate.name,
                      "reasons": list(o.exclusions)} for o in result.excluded],
    }
