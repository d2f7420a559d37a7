"""Compare: two to four techniques side by side, field by field."""

from __future__ import annotations

from html import escape

import streamlit as st

from app import selection, services
from app.components.html_table import MISSING, html_link, html_list, html_table
from app.components.technique_detail import result_cell, source_cell
from app.reported_comparison import compare_reported
from taxonomy.catalog import Catalog, TechniqueView
from taxonomy.vocabulary import (
    COSTS_LABELS,
    GOAL_LABELS,
    HARDWARE_LABELS,
    PRACTICAL_LABELS,
    SAVES_LABELS,
)

MAX_COMPARED = selection.MAX_COMPARED
# Names left out of a hostile or mistyped URL are listed up to this many, then counted.
MAX_LEFT_OUT_WARNINGS = 3
FIELD_COLUMN_SHARE = 16


def _yes_no(value: bool | None) -> str:
    return {True: "yes", False: "no", None: MISSING}[value]


def _text(value: str | None) -> str:
    return escape(value) if value else MISSING


def _runnable(node: TechniqueView) -> str:
    if node.recipes:
        return html_list([f"recipe <code>{escape(link.recipe)}</code>"
                          + (f": {escape(link.note)}" if link.note else "")
                          for link in node.recipes])
    return _text(node.not_runnable_reason)


def comparison_cells(catalog: Catalog, nodes: list[TechniqueView]) -> dict[str, list[str]]:
    """Field label -> one HTML cell per node (text escaped, lists as bullets, links live)."""
    rows: dict[str, list[str]] = {
        "Family": [escape(catalog.nodes[n.family].name) for n in nodes],
        "Category": [
            _text(" › ".join(a.name for a in catalog.ancestors(n.slug)[1:])) for n in nodes
        ],
        "In one sentence": [_text(n.takeaway) for n in nodes],
        "Level": [_text(n.level) for n in nodes],
        "Summary": [_text(n.summary) for n in nodes],
        "How it works": [_text(n.mechanism) for n in nodes],
    }
    for group, labels in (
        (lambda n: n.saves, SAVES_LABELS),
        (lambda n: n.costs, COSTS_LABELS),
        (lambda n: n.practical, PRACTICAL_LABELS),
    ):
        for key, label in labels.items():
            rows[label] = [_text((group(n) or {}).get(key)) for n in nodes]
    rows["Challenges"] = [html_list([escape(c) for c in n.challenges]) for n in nodes]
    rows["Goals"] = [html_list([escape(GOAL_LABELS.get(g, g)) for g in n.goals]) for n in nodes]
    rows["Hardware"] = [
        html_list([escape(HARDWARE_LABELS.get(h, h)) for h in n.hardware]) for n in nodes
    ]
    rows["Needs calibration data"] = [_yes_no(n.needs_calibration) for n in nodes]
    rows["Needs training"] = [_yes_no(n.needs_training) for n in nodes]
    rows["Runnable in OptAtlas"] = [_runnable(n) for n in nodes]
    rows["Implementations"] = [
        html_list([html_link(i.name, i.url) for i in n.implementations]) for n in nodes
    ]
    rows["References"] = [
        html_list([f"{html_link(r.title, r.link)} ({r.year})" for r in n.references])
        for n in nodes
    ]
    rows["Reported results"] = [str(len(n.reported_results)) for n in nodes]
    return rows


def comparison_html(catalog: Catalog, nodes: list[TechniqueView]) -> str:
    """The comparison as one table: a row per field, a column per technique."""
    cells = comparison_cells(catalog, nodes)
    rows = [[escape(label), *values] for label, values in cells.items()]
    # Field names need less room than the techniques' text.
    share = (100 - FIELD_COLUMN_SHARE) // len(nodes)
    return html_table(["", *(n.name for n in nodes)], rows, row_headers=True,
                      widths=[FIELD_COLUMN_SHARE, *[share] * len(nodes)])


def _warn_left_out(left_out: list[str]) -> None:
    for sentence in left_out[:MAX_LEFT_OUT_WARNINGS]:
        st.warning(sentence)
    hidden = len(left_out) - MAX_LEFT_OUT_WARNINGS
    if hidden > 0:
        st.warning(f"…and {hidden} more {'name was' if hidden == 1 else 'names were'} left out.")


def _remember_choice() -> None:
    chosen = st.session_state.get("compare_choice", [])
    st.query_params[selection.COMPARE_PARAM] = ",".join(chosen)


def render() -> None:
    """The Compare page."""
    catalog = services.get_catalog()
    st.header("Compare techniques", anchor=False)
    leaves = catalog.leaves()
    names = {n.slug: f"{n.name} ({catalog.nodes[n.family].name})" for n in leaves}
    from_url, left_out = selection.compared_slugs(catalog)
    _warn_left_out(left_out)
    if "compare_choice" not in st.session_state:
        st.session_state["compare_choice"] = [s for s in from_url if s in names]
    chosen = st.multiselect(
        "Techniques",
        list(names),
        key="compare_choice",
        format_func=names.__getitem__,
        max_selections=MAX_COMPARED,
        on_change=_remember_choice,
        placeholder="Choose two to four techniques",
    )
    if len(chosen) < 2:
        st.info("Choose at least two techniques to compare them side by side.")
        return
    compared = [catalog.nodes[s] for s in chosen]
    st.html(comparison_html(catalog, compared))
    _reported(compared)


def _shared_fields(result) -> str:
    window = f"{result.context_tokens}-token window" if result.context_tokens else None
    level = f"{result.perplexity_level}-level" if result.perplexity_level else None
    parts = [result.model, result.metric, result.dataset, window, level,
             f"baseline: {result.baseline_is}"]
    return " · ".join(p for p in parts if p)


def reported_side_by_side_html(nodes: list[TechniqueView]) -> tuple[list[str], str | None]:
    """One table per group of reported numbers that measure the same thing, and one table of
    the numbers that stand alone with the reason (None when there are none)."""
    groups, alone = compare_reported(nodes)
    names = {n.slug: n.name for n in nodes}
    tables = []
    for group in groups:
        rows = [[escape(names[slug]), escape(r.setting), escape(result_cell(r)), source_cell(r)]
                for slug, results in group.by_node.items() for r in results]
        arrow = " ↓" if group.example.lower_is_better else " ↑"
        tables.append(f"<p><b>{escape(_shared_fields(group.example))}</b>{arrow}</p>"
                      + html_table(["Technique", "Setting", "Baseline → reported", "Source"],
                                   rows, widths=[22, 34, 24, 20]))
    rest = None
    if alone:
        rows = [[escape(names[item.node]), escape(item.result.model),
                 escape(item.result.metric), escape(result_cell(item.result)),
                 escape(item.reason)] for item in alone]
        rest = html_table(["Technique", "Model", "Metric", "Baseline → reported",
                           "Why not side by side"], rows, widths=[14, 14, 18, 14, 40])
    return tables, rest


def _reported(nodes: list[TechniqueView]) -> None:
    st.markdown("##### Reported numbers side by side")
    st.caption("Numbers as the cited papers report them (OptAtlas did not measure these), "
               "placed side by side only where model, metric, dataset, window, perplexity "
               "level (token, word or byte) and baseline all match.")
    tables, rest = reported_side_by_side_html(nodes)
    if not tables and rest is None:
        st.info("None of these techniques has a reported number in the atlas.")
    elif not tables:
        st.info("None of these techniques' reported numbers measure the same thing, so none "
                "are placed side by side; the list below says what differs.")
    for table in tables:
        st.html(table)
    if rest is not None:
        with st.expander("Reported numbers that stand alone, and why", expanded=not tables):
            st.html(rest)
