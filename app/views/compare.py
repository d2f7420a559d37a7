"""Compare: two to four techniques side by side, field by field."""

from __future__ import annotations

from html import escape

import streamlit as st

from app import selection, services
from app.components.html_table import MISSING, html_link, html_list, html_table
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
    if node.runnable_recipe:
        return f"recipe <code>{escape(node.runnable_recipe)}</code>"
    return _text(node.not_runnable_reason)


def comparison_cells(catalog: Catalog, nodes: list[TechniqueView]) -> dict[str, list[str]]:
    """Field label -> one HTML cell per node (text escaped, lists as bullets, links live)."""
    rows: dict[str, list[str]] = {
        "Family": [escape(catalog.nodes[n.family].name) for n in nodes],
        "Category": [
            _text(" › ".join(a.name for a in catalog.ancestors(n.slug)[1:])) for n in nodes
        ],
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
    st.html(comparison_html(catalog, [catalog.nodes[s] for s in chosen]))
