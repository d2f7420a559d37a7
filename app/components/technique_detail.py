"""A node's detail view: every field of the taxonomy, references as links, reported results."""

from __future__ import annotations

import re
from html import escape

import streamlit as st

from app import page_ids, results_service, technique_code
from app.components import node_links
from app.components.html_table import html_link, html_table
from core import recipes
from taxonomy.catalog import Catalog, ReportedResultView, TechniqueView
from taxonomy.vocabulary import (
    COSTS_LABELS,
    GOAL_LABELS,
    HARDWARE_LABELS,
    PRACTICAL_LABELS,
    SAVES_LABELS,
)

# A source is shown by its arXiv id (or its host), not by its whole address.
SOURCE_LINK_TEXT = re.compile(r"https?://(?:arxiv\.org/abs/)?([^/]+(?:/[^/]+)?)")
NOT_YET = "its implementation in OptAtlas is not finished yet"


def runnable_now(node: TechniqueView) -> bool:
    """True when the node's recipe is implemented in this version."""
    return node.runnable_recipe is not None and node.runnable_recipe in recipes.config_types()


def run_entry_reason(node: TechniqueView) -> str:
    """What "Run this technique" does for this node, or why it is disabled."""
    if runnable_now(node):
        return (f"OptAtlas recipe `{node.runnable_recipe}`: choose its settings, a model and "
                "a device, and launch a measured job.")
    if node.runnable_recipe:
        return f"OptAtlas recipe `{node.runnable_recipe}`: {NOT_YET}."
    if node.not_runnable_reason:
        return f"Not runnable in OptAtlas: {node.not_runnable_reason}"
    return "Choose a method under this node to run it."


def _badges(node: TechniqueView) -> None:
    parts = [f":blue-badge[{node.kind}]"]
    parts += [f":green-badge[{GOAL_LABELS.get(g, g)}]" for g in node.goals]
    parts += [f":gray-badge[{HARDWARE_LABELS.get(h, h)}]" for h in node.hardware]
    if node.needs_calibration:
        parts.append(":orange-badge[needs calibration data]")
    if node.needs_training:
        parts.append(":red-badge[needs training]")
    st.markdown(" ".join(parts))


def _breadcrumb(catalog: Catalog, node: TechniqueView) -> None:
    trail = catalog.ancestors(node.slug)
    if trail:
        st.caption(" › ".join(a.name for a in trail))


def _labelled_table(values: dict[str, str] | None, labels: dict[str, str]) -> None:
    if not values:
        return
    lines = [f"- **{label}:** {values[key]}" for key, label in labels.items() if values.get(key)]
    st.markdown("\n".join(lines))


def _result_cell(result: ReportedResultView) -> str:
    # Baseline, reported value and change in one cell: three number columns crowd the table.
    value = f"{result.value:.4g}"
    if result.baseline is None:
        return value
    text = f"{result.baseline:.4g} → {value}"
    if result.baseline != 0:
        change = (result.value - result.baseline) / abs(result.baseline) * 100
        text += f" ({change:+.1f}%)"
    return text


def _source_cell(result: ReportedResultView) -> str:
    link = result.source.link
    shown = SOURCE_LINK_TEXT.match(link)
    return html_link(shown.group(1) if shown else result.source.key, link)


def reported_results_html(node: TechniqueView) -> str:
    """The node's reported results as a table that fits its column, each row with its source."""
    rows = [
        [
            escape(r.model),
            escape((f"{r.metric} ({r.unit})" if r.unit else r.metric)
                   + (" ↓" if r.lower_is_better else " ↑")),
            escape(r.setting),
            escape(_result_cell(r)),
            escape(r.protocol),
            _source_cell(r),
        ]
        for r in node.reported_results
    ]
    return html_table(["Model", "Metric", "Setting", "Baseline → reported", "Protocol",
                       "Source"], rows, widths=[12, 17, 18, 13, 24, 16])


def _reported_results(node: TechniqueView) -> None:
    st.markdown("##### Reported results")
    if not node.reported_results:
        st.caption("No paper reports a number for this node that fits the table.")
        return
    st.caption(
        "Reported: numbers as the cited papers give them, under their own protocols "
        "(↓ lower is better, ↑ higher is better). OptAtlas did not measure these."
    )
    st.html(reported_results_html(node))


def _measured_by_optatlas(node: TechniqueView) -> None:
    """The gallery's runs of this technique: OptAtlas's own numbers, beside the reported."""
    if not node.runnable_recipe:
        return
    evidence = results_service.gallery_evidence(node.runnable_recipe)
    if evidence is None:
        return
    st.markdown("##### Measured by OptAtlas")
    st.caption(f"{evidence.how}, on the bundled model under the default protocol (each "
               "run's protocol is in its details on Results). Decode speed is timed for real "
               "kernels only: a simulated run computes in float.")
    st.dataframe(evidence.rows, hide_index=True, width="stretch")
    st.page_link(page_ids.RESULTS.script, label="See these runs plotted on Results",
                 icon=":material/scatter_plot:",
                 query_params={"runs": ",".join(map(str, evidence.result_ids))})


def _references(node: TechniqueView) -> None:
    st.markdown("##### References")
    lines = []
    for i, ref in enumerate(node.references, 1):
        ident = f"arXiv:{ref.arxiv}" if ref.arxiv else (f"doi:{ref.doi}" if ref.doi else "link")
        lines.append(
            f"{i}. {ref.author_line} ({ref.year}). [{ref.title}]({ref.link}). "
            f"*{ref.venue}*. {ident}"
        )
    st.markdown("\n".join(lines))


def _children(catalog: Catalog, node: TechniqueView) -> None:
    st.markdown("##### In this branch")
    node_links.render(
        catalog.children(node.slug),
        key_prefix="child",
        icon=":material/subdirectory_arrow_right:",
        describe=lambda child: child.summary,
    )


def render(catalog: Catalog, node: TechniqueView) -> None:
    """Show every field of one node."""
    _breadcrumb(catalog, node)
    st.header(node.name, anchor=False)
    _badges(node)
    st.write(node.summary)
    if runnable_now(node):
        st.page_link(
            page_ids.LAUNCH.script,
            label="Run this technique",
            icon=":material/play_arrow:",
            query_params={"technique": node.slug},
            help=run_entry_reason(node),
        )
    else:
        st.button(
            "Run this technique",
            key="run-technique",
            icon=":material/play_arrow:",
            disabled=True,
            help=run_entry_reason(node),
        )
    st.caption(run_entry_reason(node))
    if node.is_leaf:
        st.page_link(
            page_ids.COMPARE.script,
            label="Compare with other techniques",
            icon=":material/compare_arrows:",
            query_params={"techniques": node.slug},
        )
    if node.mechanism:
        st.markdown("##### How it works")
        st.write(node.mechanism)
    if runnable_now(node):
        technique_code.render(node.runnable_recipe)
    if node.saves:
        st.markdown("##### What it saves")
        _labelled_table(node.saves, SAVES_LABELS)
    if node.costs:
        st.markdown("##### What it costs")
        _labelled_table(node.costs, COSTS_LABELS)
    if node.challenges:
        st.markdown("##### Challenges")
        st.markdown("\n".join(f"- {c}" for c in node.challenges))
    if node.practical:
        st.markdown("##### Practical considerations")
        _labelled_table(node.practical, PRACTICAL_LABELS)
    if node.implementations:
        st.markdown("##### Implementations")
        st.markdown(
            "\n".join(
                f"- [{i.name}]({i.url})" + (f": {i.note}" if i.note else "")
                for i in node.implementations
            )
        )
    if node.children:
        _children(catalog, node)
    if node.references:
        _references(node)
    _measured_by_optatlas(node)
    if node.is_leaf or node.reported_results:
        _reported_results(node)
