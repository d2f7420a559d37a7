"""The chooser's answer: every candidate estimated, the hard constraints that exclude some
(in words), the quality tolerance, and a ranked shortlist for the user's goal.

Pure: the query, the rules and the evidence go in, an Answer comes out; the page, the CLI
and the tests all call `choose`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from core.chooser.estimate import Estimate, estimate
from core.chooser.evidence import Evidence, RiskJudgement, judge_risk
from core.chooser.query import Query
from core.chooser.rules import RISKS, Candidate, Rules

SHORTLIST_MOST = 5
SHORTLIST_LEAST = 3

# Why a device without a capability cannot run a candidate, in words.
CAPABILITY_WORDS = {
    "fp8": "FP8 matrix products need FP8 tensor cores (NVIDIA Ada, Hopper or Blackwell, "
           "AMD MI300X)",
    "fp4": "FP4 matrix products need FP4 tensor cores (NVIDIA Blackwell)",
    "int8_tensor_cores": "INT8 weights-and-activations need int8 tensor cores (NVIDIA Turing "
                         "or newer, AMD MI300X)",
    "sparse_2_4": "2:4 speedups need sparse tensor cores (NVIDIA Ampere or newer)",
    "bf16": "it needs bfloat16 arithmetic",
}
KIND_WORDS = {"gpu": "a GPU", "cpu": "a CPU", "apple": "Apple silicon"}


@dataclass(frozen=True)
class Option:
    """A candidate as the chooser judged it for this query."""

    candidate: Candidate
    estimate: Estimate
    risk: RiskJudgement
    gpu_hours: float
    exclusions: tuple[str, ...]
    within_tolerance: bool
    engine_how: str | None

    @property
    def admissible(self) -> bool:
        return not self.exclusions and self.within_tolerance


@dataclass(frozen=True)
class Answer:
    """The ranked shortlist, the options over the tolerance, the excluded ones with reasons,
    the uncompressed baseline, and problems with the question itself."""

    query: Query
    rules_version: str
    goal_ranks_by: str
    shortlist: tuple[Option, ...]
    # Every option no hard constraint excludes, best first (within the tolerance first).
    considered: tuple[Option, ...]
    excluded: tuple[Option, ...]
    baseline: Option
    problems: tuple[str, ...]


def _gib(value: float) -> str:
    return f"{value / 2**30:,.1f} GiB"


def _engine_problem(query: Query, rules: Rules) -> str | None:
    if query.engine is None:
        return None
    engine = rules.engines[query.engine]
    device = query.hardware.device
    if device.kind not in engine.kinds:
        others = [e.name for e in rules.engines.values() if device.kind in e.kinds]
        return (f"{engine.name} does not run on {KIND_WORDS[device.kind]} ({device.name}); "
                f"engines that do: {', '.join(others)}")
    if engine.architectures and device.architecture not in engine.architectures \
            and not device.measured:
        return f"{engine.name} runs on NVIDIA GPUs only; {device.name} is not one"
    return None


def _exclusions(candidate: Candidate, query: Query, rules: Rules, found: Estimate,
                gpu_hours: float, engine_problem: str | None) -> list[str]:
    device = query.hardware.device
    reasons = [engine_problem] if engine_problem else []
    if device.kind not in candidate.kinds:
        kinds = " or ".join(KIND_WORDS[kind] for kind in candidate.kinds)
        reasons.append(f"it runs on {kinds} only; {device.name} is {KIND_WORDS[device.kind]}")
    for capability in candidate.needs:
        if not device.has(capability):
            reasons.append(f"{CAPABILITY_WORDS[capability]}; {device.name} has none")
    if query.engine and query.engine not in candidate.engines:
        can = ", ".join(rules.engines[e].name for e in candidate.engines)
        reasons.append(f"{rules.engines[query.engine].name} cannot run it "
                       f"(engines that can: {can})")
    if candidate.calibration and not query.calibration_data:
        reasons.append("it needs calibration data; without any, RTN, HQQ, NF4 and FP8 still work")
    if gpu_hours > max(query.gpu_hours, rules.free_gpu_hours):
        what = "training" if candidate.training else "calibration"
        reasons.append(f"its {what} needs about {gpu_hours:,.1f} GPU-hours; the budget is "
                       f"{query.gpu_hours:,g}")
    if candidate.max_batch and query.workload.batch > candidate.max_batch:
        reasons.append(f"speculative decoding pays off at batch {candidate.max_batch} or less; "
                       f"the workload's batch is {query.workload.batch}")
    if candidate.offload and found.fits and not found.offloaded_bytes:
        reasons.append("it fits without offloading: the same weights kept on the device are "
                       "faster")
    if not found.fits:
        reasons.append(f"it needs {_gib(found.total_bytes)} at batch {found.batch}; "
                       f"{query.hardware.describe()} has {_gib(found.usable_bytes)} usable "
                       "(10 % kept for the runtime)")
    return reasons


def _option(candidate: Candidate, query: Query, rules: Rules, evidence: Sequence[Evidence],
            engine_problem: str | None) -> Option:
    found = estimate(query.model, candidate, query.hardware, query.workload, goal=query.goal)
    parameters = query.model.parameters()
    gpu_hours = candidate.gpu_hours_per_b * parameters / 1e9
    risk = judge_risk(candidate, rules, parameters, evidence)
    admitted = rules.tolerances[query.tolerance]
    within = RISKS.index(risk.level) <= RISKS.index(admitted)
    how = candidate.engines.get(query.engine) if query.engine else None
    return Option(candidate, found, risk, gpu_hours,
                  tuple(_exclusions(candidate, query, rules, found, gpu_hours, engine_problem)),
                  within, how)


def _rank_key(option: Option, goal: str):
    found = option.estimate
    risk = RISKS.index(option.risk.level)
    if goal == "fit":
        return (risk, option.gpu_hours, -(found.usable_bytes - found.total_bytes))
    if goal == "latency":
        return (found.request_s, risk, option.gpu_hours)
    if goal == "throughput":
        return (-found.throughput_tok_s, risk, option.gpu_hours)
    energy = found.energy_j_per_tok
    return (energy if energy is not None else float("inf"), -found.throughput_tok_s, risk)


def choose(query: Query, rules: Rules,
           evidence: Mapping[str, Sequence[Evidence]] | None = None) -> Answer:
    """Every candidate judged for `query`, and the shortlist for its goal."""
    evidence = evidence or {}
    engine_problem = _engine_problem(query, rules)
    options = [_option(candidate, query, rules, evidence.get(candidate.key, ()), engine_problem)
               for candidate in rules.candidates]
    ranked = sorted((o for o in options if not o.exclusions),
                    key=lambda o: (not o.within_tolerance, _rank_key(o, query.goal)))
    shortlist = [o for o in ranked if o.within_tolerance][:SHORTLIST_MOST]
    # Fewer than three within the tolerance: the best beyond it follow, flagged as such.
    shortlist += [o for o in ranked if not o.within_tolerance][
        :max(0, SHORTLIST_LEAST - len(shortlist))]
    baseline = next(o for o in options if o.candidate.key == "bf16")
    problems = [engine_problem] if engine_problem else []
    if not ranked:
        problems.append("no candidate fits these constraints: read why each is excluded below")
    elif not any(o.within_tolerance for o in shortlist):
        problems.append(f"nothing that fits stays within the '{query.tolerance}' tolerance; "
                        "the options below exceed it, as marked")
    return Answer(query=query, rules_version=rules.version,
                  goal_ranks_by=rules.goals[query.goal].ranks_by, shortlist=tuple(shortlist),
                  considered=tuple(ranked),
                  excluded=tuple(o for o in options if o.exclusions), baseline=baseline,
                  problems=tuple(problems))
