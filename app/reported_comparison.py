"""Reported numbers side by side, only where they measure the same thing.

Two papers' numbers compare only when model, metric, dataset, window, perplexity level and
baseline all match (`ReportedResultView.comparison_key`); token and word perplexities of one
model differ by large factors, and readers compare them by mistake. Everything else is listed
with the fields that differ from its nearest counterpart, so the reader sees why it stands
alone. Pure: techniques in, rows and sentences out.
"""

from __future__ import annotations

from dataclasses import dataclass

from taxonomy.catalog import ReportedResultView, TechniqueView

# The fields of a comparison key, in its order, as a reader names them.
KEY_FIELDS = ("model", "metric", "dataset", "window", "perplexity level", "baseline")


@dataclass(frozen=True)
class SideBySide:
    """Numbers from two or more of the compared techniques that measure the same thing."""

    key: tuple
    # Per technique slug, its results under this key (a paper may report several settings).
    by_node: dict[str, tuple[ReportedResultView, ...]]

    @property
    def example(self) -> ReportedResultView:
        """One of the results, to read the shared fields from."""
        return next(iter(self.by_node.values()))[0]


@dataclass(frozen=True)
class StandsAlone:
    """A result no other compared technique reports comparably, and why."""

    node: str
    result: ReportedResultView
    reason: str


def _field_values(result: ReportedResultView) -> tuple:
    return (result.model, result.metric, result.dataset or "unstated dataset",
            f"{result.context_tokens} tokens" if result.context_tokens else "unstated window",
            result.perplexity_level or "not a perplexity", result.baseline_is)


def differences(a: ReportedResultView, b: ReportedResultView) -> list[str]:
    """The fields where two results differ, as 'model: OPT-175B vs Llama-2-7B'."""
    out = []
    for name, key_a, key_b, shown_a, shown_b in zip(
            KEY_FIELDS, a.comparison_key, b.comparison_key, _field_values(a), _field_values(b)):
        if key_a != key_b:
            out.append(f"{name}: {shown_a} vs {shown_b}")
    return out


def compare_reported(nodes: list[TechniqueView]) -> tuple[list[SideBySide], list[StandsAlone]]:
    """The compared techniques' reported numbers: groups that line up, and the rest with the
    reason each does not."""
    keyed: dict[tuple, dict[str, list[ReportedResultView]]] = {}
    for node in nodes:
        for result in node.reported_results:
            keyed.setdefault(result.comparison_key, {}).setdefault(node.slug, []).append(result)
    groups = [SideBySide(key, {slug: tuple(rs) for slug, rs in by_node.items()})
              for key, by_node in keyed.items() if len(by_node) > 1]
    grouped = {group.key for group in groups}
    alone = []
    for node in nodes:
        others = [(other.slug, r) for other in nodes if other.slug != node.slug
                  for r in other.reported_results]
        for result in node.reported_results:
            if result.comparison_key in grouped:
                continue
            alone.append(StandsAlone(node.slug, result, _reason(result, others)))
    return groups, alone


def _reason(result: ReportedResultView, others: list[tuple[str, ReportedResultView]]) -> str:
    if not others:
        return "the other techniques report no numbers"
    # The nearest counterpart: the fewest differing fields, the model and metric weighing most.
    def distance(other: ReportedResultView) -> tuple[int, int]:
        diff = differences(result, other)
        return (len(diff), sum(d.startswith(("model", "metric")) for d in diff))

    nearest = min((r for _, r in others), key=distance)
    return "nearest counterpart differs in " + "; ".join(differences(result, nearest))
