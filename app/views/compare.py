"""Compare: two to four techniques side by side, field by field."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app import selection, services
from app.components.technique_detail import COSTS_LABELS, PRACTICAL_LABELS, SAVES_LABELS
from taxonomy.catalog import Catalog, TechniqueView
from taxonomy.vocabulary import GOAL_LABELS, HARDWARE_LABELS

MAX_COMPARED = 4


def _yes_no(value: bool | None) -> str:
    return {True: "yes", False: "no", None: "—"}[value]


def comparison_frame(catalog: Catalog, nodes: list[TechniqueView]) -> pd.DataFrame:
    """Rows are fields, columns are the compared techniques."""
    rows: dict[str, list[str]] = {
        "Family": [catalog.nodes[n.family].name for n in nodes],
        "Category": [" › ".join(a.name for a in catalog.ancestors(n.slug)[1:]) for n in nodes],
        "Summary": [n.summary for n in nodes],
        "How it works": [n.mechanism or "—" for n in nodes],
    }
    for group, labels in (
        (lambda n: n.saves, SAVES_LABELS),
        (lambda n: n.costs, COSTS_LABELS),
        (lambda n: n.practical, PRACTICAL_LABELS),
    ):
        for key, label in labels.items():
            rows[label] = [(group(n) or {}).get(key, "—") for n in nodes]
    rows["Challenges"] = ["; ".join(n.challenges) or "—" for n in nodes]
    rows["Goals"] = [", ".join(GOAL_LABELS.get(g, g) for g in n.goals) or "—" for n in nodes]
    rows["Hardware"] = [", ".join(HARDWARE_LABELS.get(h, h) for h in n.hardware) or "—" for n in nodes]
    rows["Needs calibration data"] = [_yes_no(n.needs_calibration) for n in nodes]
    rows["Needs training"] = [_yes_no(n.needs_training) for n in nodes]
    rows["Runnable in OptAtlas"] = [
        f"recipe {n.runnable_recipe}" if n.runnable_recipe else (n.not_runnable_reason or "—")
        for n in nodes
    ]
    rows["Implementations"] = [", ".join(i.name for i in n.implementations) or "—" for n in nodes]
    rows["References"] = [
        "; ".join(f"{r.title} ({r.year})" for r in n.references) or "—" for n in nodes
    ]
    rows["Reported results"] = [str(len(n.reported_results)) for n in nodes]
    return pd.DataFrame(rows, index=[n.name for n in nodes]).T


def _remember_choice() -> None:
    chosen = st.session_state.get("compare_choice", [])
    st.query_params[selection.COMPARE_PARAM] = ",".join(chosen)


def render() -> None:
    """The Compare page."""
    catalog = services.get_catalog()
    st.header("Compare techniques", anchor=False)
    leaves = catalog.leaves()
    names = {n.slug: f"{n.name} ({catalog.nodes[n.family].name})" for n in leaves}
    if "compare_choice" not in st.session_state:
        st.session_state["compare_choice"] = [
            s for s in selection.compared_slugs(catalog) if s in names
        ]
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
    frame = comparison_frame(catalog, [catalog.nodes[s] for s in chosen])
    st.table(frame)
