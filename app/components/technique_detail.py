"""A node's detail view: every field of the taxonomy, references as links, reported results."""

from __future__ import annotations

import re
from html import escape

import streamlit as st

from app import glossary_links, page_ids, results_service, services, technique_code
from app.components import node_links
from app.components.html_table import html_link, html_table
from core import recipes
from taxonomy.catalog import Catalog, RecipeLinkView, ReportedResultView, TechniqueView
from taxonomy.glossary import Glossary
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
DEFAULT_BASELINE = "the unmodified model"
LEVEL_LABELS = {"introductory": "introductory", "advanced": "advanced"}


def runnable_links(node: TechniqueView) -> list[RecipeLinkView]:
    """The node's recipes that this version implements, the usual one first."""
    known = recipes.config_types()
    return [link for link in node.recipes if link.recipe in known]


def runnable_now(node: TechniqueView) -> bool:
    """True when at least one of the node's recipes is implemented in this version."""
    return bool(runnable_links(node))


def run_entry_reason(node: TechniqueView) -> str:
    """What "Run this technique" does for this node, or why it is disabled."""
    links = runnable_links(node)
    if len(links) > 1:
        return (f"{len(links)} OptAtlas recipes run it: choose one below, then its settings, "
                "a model and a device, and launch a measured job.")
    if links:
        return (f"OptAtlas recipe `{links[0].recipe}`: choose its settings, a model and "
                "a device, and launch a measured job.")
    if node.runnable_recipe:
        return f"OptAtlas recipe `{node.runnable_recipe}`: {NOT_YET}."
    if node.not_runnable_reason:
        return f"Not runnable in OptAtlas: {node.not_runnable_reason}"
    return "Choose a method under this node to run it."


def _badges(node: TechniqueView) -> None:
    parts = [f":blue-badge[{node.kind}]"]
    if node.level:
        parts.append(f":violet-badge[{LEVEL_LABELS.get(node.level, node.level)}]")
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


def result_cell(result: ReportedResultView) -> str:
    # Baseline, reported value and change in one cell: three number columns crowd the table.
    value = f"{result.value:.4g}"
    if result.baseline is None:
        return value
    text = f"{result.baseline:.4g} → {value}"
    if result.baseline != 0:
        change = (result.value - result.baseline) / abs(result.baseline) * 100
        text += f" ({change:+.1f}%)"
    return text


def source_cell(result: ReportedResultView) -> str:
    link = result.source.link
    shown = SOURCE_LINK_TEXT.match(link)
    return html_link(shown.group(1) if shown else result.source.key, link)


def reported_results_html(node: TechniqueView) -> str:
    """The node's reported results as a table that fits its column, each row with its source."""
    rows = [
        [
            escape(r.model),
            escape((f"{r.metric} ({r.unit})" if r.unit else r.metric)
                   + (f", {r.perplexity_level}-level" if r.perplexity_level else "")
                   + (" ↓" if r.lower_is_better else " ↑")),
            escape(r.setting),
            escape(result_cell(r) + ("" if r.baseline_is == DEFAULT_BASELINE
                                     else f" (baseline: {r.baseline_is})")),
            escape(_data_cell(r)),
            source_cell(r),
        ]
        for r in node.reported_results
    ]
    return html_table(["Model", "Metric", "Setting", "Baseline → reported", "Data and protocol",
                       "Source"], rows, widths=[12, 17, 17, 15, 25, 14])


def _data_cell(result: ReportedResultView) -> str:
    # The structured fields first (what a comparison matches on), then the paper's words.
    parts = [result.dataset or "", f"{result.context_tokens}-token window"
             if result.context_tokens else "", result.protocol]
    return "; ".join(p for p in parts if p)


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
    found = [(link.recipe, results_service.gallery_evidence(link.recipe))
             for link in node.recipes]
    found = [(recipe, evidence) for recipe, evidence in found if evidence is not None]
    if not found:
        return
    st.markdown("##### Measured by OptAtlas")
    for recipe, evidence in found:
        if len(found) > 1:
            st.markdown(f"Recipe `{recipe}`")
        _gallery_table(evidence)


def _gallery_table(evidence) -> None:
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


def _run_entries(node: TechniqueView) -> None:
    """One way into Launch per recipe that runs the node, each with how it departs from the
    method; a disabled button saying why when none does."""
    links = runnable_links(node)
    if not links:
        st.button("Run this technique", key="run-technique", icon=":material/play_arrow:",
                  disabled=True, help=run_entry_reason(node))
        st.caption(run_entry_reason(node))
        return
    for link in links:
        label = "Run this technique" if len(links) == 1 else f"Run with `{link.recipe}`"
        st.page_link(page_ids.LAUNCH.script, label=label, icon=":material/play_arrow:",
                     query_params={"technique": node.slug} if len(links) == 1
                     else {"technique": node.slug, "recipe": link.recipe},
                     help=link.note or run_entry_reason(node))
        if link.note:
            st.caption(link.note)
    if len(links) == 1:
        st.caption(run_entry_reason(node))


def _glossary() -> Glossary | None:
    # A node page without links beats no page: the glossary file is checked by
    # `optatlas check` and the tests, so this is a safety net, not a path users take.
    try:
        return services.get_glossary()
    except ValueError:
        return None


def _terms_used(node: TechniqueView, glossary: Glossary | None) -> None:
    if glossary is None:
        return
    texts = [node.takeaway or "", node.summary, node.mechanism or ""]
    terms = glossary_links.terms_in(texts, glossary)
    if not terms:
        return
    with st.expander(f"Terms used here ({len(terms)})", icon=":material/menu_book:"):
        st.markdown("\n".join(
            f"- **[{t.term}]({glossary_links.term_url(t.slug)})**: {' '.join(t.definition.split())}"
            for t in terms))


def render(catalog: Catalog, node: TechniqueView) -> None:
    """Show every field of one node, its takeaway first."""
    glossary = _glossary()
    seen: set[str] = set()

    def linked(text: str) -> str:
        return glossary_links.link_terms(text, glossary, seen) if glossary else text

    _breadcrumb(catalog, node)
    st.header(node.name, anchor=False)
    if node.takeaway:
        st.info(linked(node.takeaway), icon=":material/lightbulb:")
    _badges(node)
    st.write(linked(node.summary))
    _terms_used(node, glossary)
    _run_entries(node)
    if node.is_leaf:
        st.page_link(
            page_ids.COMPARE.script,
            label="Compare with other techniques",
            icon=":material/compare_arrows:",
            query_params={"techniques": node.slug},
        )
    if node.mechanism:
        st.markdown("##### How it works")
        st.write(linked(node.mechanism))
    _code(node)
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


def _code(node: TechniqueView) -> None:
    """The code of each recipe that runs the node: one, or a tab per recipe."""
    links = runnable_links(node)
    if len(links) == 1:
        technique_code.render(links[0].recipe)
    elif links:
        for tab, link in zip(st.tabs([f"Code: {link.recipe}" for link in links]), links):
            with tab:
                technique_code.render(link.recipe)
