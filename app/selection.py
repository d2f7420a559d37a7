"""Which technique the user is looking at: kept in the URL, so every view is a deep link."""

from __future__ import annotations

import streamlit as st

from taxonomy.catalog import Catalog, TechniqueView

TECHNIQUE_PARAM = "technique"
COMPARE_PARAM = "techniques"


def select(slug: str) -> None:
    """Open a node: the URL now names it."""
    st.query_params[TECHNIQUE_PARAM] = slug


def clear() -> None:
    """Back to the overview."""
    st.query_params.pop(TECHNIQUE_PARAM, None)


def current(catalog: Catalog) -> TechniqueView | None:
    """The node the URL names; a name the catalog lacks gets a warning, not an error."""
    slug = st.query_params.get(TECHNIQUE_PARAM)
    if not slug:
        return None
    node = catalog.get(slug)
    if node is None:
        st.warning(f"No technique is called “{slug}”. Choose one in the tree or the chart.")
    return node


def slug_from_chart_point(point: dict) -> str | None:
    """The node a clicked chart segment stands for (plotly reports it in several shapes)."""
    customdata = point.get("customdata")
    if isinstance(customdata, (list, tuple)) and customdata:
        return str(customdata[0])
    for key in ("id", "ids"):
        if point.get(key):
            return str(point[key])
    return None


def compared_slugs(catalog: Catalog) -> list[str]:
    """The techniques named in the Compare page's URL that exist, in order, at most four."""
    raw = st.query_params.get(COMPARE_PARAM, "")
    slugs = [s for s in dict.fromkeys(raw.split(",")) if s and catalog.get(s)]
    return slugs[:4]
