"""The quality side of the chooser: evidence about a candidate (OptAtlas's own measured runs,
the gallery's, the taxonomy's reported results) and the risk judged from it, or from the
rules' prior where no evidence is close enough to the user's model.

Evidence counts for a model when it measured token perplexity against a baseline on a
model within the rules' size factor of the user's; the closest in size decides. Everything
else is still listed, so a reader sees what exists and why it did not decide."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from core.chooser.rules import Candidate, Rules

_SIZE = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)\s*([BM])\b")


@dataclass(frozen=True)
class Evidence:
    """One quality figure about a candidate, with where it comes from."""

    kind: str  # "measured" (OptAtlas runs here), "gallery" (shipped runs) or "reported"
    model: str
    parameters: float | None
    setting: str
    metric: str
    baseline: float | None
    value: float
    protocol: str
    source: str  # a citation, or the run's name
    node: str | None = None  # the taxonomy node that reports it
    result_id: int | None = None  # the measured run, for a link to Results

    @property
    def relative_increase(self) -> float | None:
        """How much worse than the baseline, as a share (perplexity: value / baseline - 1)."""
        if self.baseline is None or self.baseline <= 0 or not math.isfinite(self.value):
            return None
        return self.value / self.baseline - 1.0

    def describe(self) -> str:
        change = self.relative_increase
        against = f"{self.baseline:g} -> {self.value:g}" if self.baseline is not None else \
            f"{self.value:g}"
        percent = f" ({change:+.1%})" if change is not None else ""
        return (f"{self.kind}: {self.model}, {self.setting}: {self.metric} {against}{percent}; "
                f"{self.protocol}; {self.source}")


def parameters_in(name: str) -> float | None:
    """The parameter count a model's name states ("Llama-2-70B" -> 7e10); None when it states
    none or several different ones."""
    sizes = {float(number) * (1e9 if unit == "B" else 1e6) for number, unit in _SIZE.findall(name)}
    return sizes.pop() if len(sizes) == 1 else None


@dataclass(frozen=True)
class RiskJudgement:
    """A candidate's quality risk, what it rests on, and the evidence a reader can check."""

    level: str
    basis: str  # "measured", "gallery", "reported" or "rule-based prior"
    reason: str
    evidence: tuple[Evidence, ...] = ()
    deciding: Evidence | None = None


def _deciding(evidence: Sequence[Evidence], parameters: float, factor: float,
              nodes: Sequence[str]) -> Evidence | None:
    close = [item for item in evidence
             if item.relative_increase is not None and item.parameters
             and max(item.parameters, parameters) / min(item.parameters, parameters) <= factor]
    # The closest in size decides; among equals, OptAtlas's own measurement before a report,
    # and a report on the candidate's own node before one on a sibling it lists after it.
    order = {"measured": 0, "gallery": 1, "reported": 2}

    def rank(item: Evidence) -> tuple:
        node = nodes.index(item.node) if item.node in nodes else len(nodes)
        return (round(abs(math.log(item.parameters / parameters)), 6),
                order.get(item.kind, 3), node)

    return min(close, key=rank, default=None)


def judge_risk(candidate: Candidate, rules: Rules, parameters: float,
               evidence: Sequence[Evidence] = ()) -> RiskJudgement:
    """The risk level of `candidate` on a model of `parameters` parameters."""
    relevant = tuple(evidence)
    deciding = _deciding(relevant, parameters, rules.evidence_size_factor, candidate.nodes)
    if deciding is not None:
        level = rules.risk_of(deciding.relative_increase)
        return RiskJudgement(
            level=level, basis=deciding.kind, evidence=relevant, deciding=deciding,
            reason=f"{deciding.metric} {deciding.relative_increase:+.1%} on {deciding.model} "
                   f"({deciding.setting}; {deciding.source})")
    band = rules.band(parameters)
    source = rules.sources.get(candidate.risk_source or "")
    cited = f" ({source.title})" if source else ""
    return RiskJudgement(level=candidate.risk[band], basis="rule-based prior",
                         reason=f"{candidate.risk_reason}{cited}; prior for {band} models",
                         evidence=relevant)


def reported_evidence(candidate: Candidate, node_slug: str, results: Sequence) -> list[Evidence]:
    """The taxonomy's reported perplexities for a candidate's node whose setting matches the
    candidate's (`reported_setting`); `results` are the node's reported results."""
    if not candidate.reported_setting:
        return []
    wanted = _setting_words(candidate.reported_setting)
    found = []
    for result in results:
        if (result.baseline is None or not result.lower_is_better
                or "perplexity" not in result.metric.lower()
                or not re.search(rf"(?<![\w.]){re.escape(wanted)}(?!\w)",
                                 _setting_words(result.setting))):
            continue
        found.append(Evidence(
            kind="reported", model=result.model, parameters=parameters_in(result.model),
            setting=result.setting, metric=result.metric, baseline=result.baseline,
            value=result.value, protocol=result.protocol,
            source=f"reported by {_citation(result.source)}", node=node_slug))
    return found


def _setting_words(text: str) -> str:
    # "2-bit weights" and "about 2 bits per weight" both say "2 bit".
    return " ".join(text.lower().replace("-", " ").replace("bits", "bit").split())


def _citation(reference) -> str:
    # A catalog ReferenceView ("A, B and C (2023)"), or already a string.
    if isinstance(reference, str):
        return reference
    return f"{reference.author_line} ({reference.year})"
