"""Which technique the user is looking at: kept in the URL, so every view is a deep link."""

from __future__ import annotations

import streamlit as st

from app.markdown_text import plain
from taxonomy.catalog import Catalog, TechniqueView

TECHNIQUE_PARAM = "technique"
COMPARE_PARAM = "techniques"
MAX_COMPARED = 4
# A name from the URL is shown back to the user at most this long.
MAX_SHOWN_NAME = 60


def shown_name(text: str) -> str:
    """A name from the URL, cut to a readable length and safe to put in Markdown."""
    return plain(text, MAX_SHOWN_NAME)


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
        st.warning(
            f"No technique is called “{shown_name(slug)}”. Choose one in the tree or the chart."
        )
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


def split_compared(catalog: Catalog, raw: str) -> tuple[list[str], list[str]]:
    """A `?techniques=` value as the methods to compare (in order, at most four) and a
    sentence for each name that was left out, and why."""
    chosen: list[str] = []
    left_out: list[str] = []
    for slug in dict.fromkeys(part.strip() for part in raw.split(",")):
        if not slug:
            continue
        node = catalog.get(slug)
        if node is None:
            left_out.append(f"No technique is called “{shown_name(slug)}”; it was left out.")
        elif not node.is_leaf:
            left_out.append(f"“{node.name}” is a {node.kind} of techniques, not a single "
                            "technique; it was left out.")
        elif len(chosen) == MAX_COMPARED:
            left_out.append(f"At most {MAX_COMPARED} techniques fit side by side; "
                            f"“{node.name}” was left out.")
        else:
            chosen.append(slug)
    return chosen, left_out


def compared_slugs(catalog: Catalog) -> tuple[list[str], list[str]]:
    """The Compare page's URL read with `split_compared`."""
    return split_compared(catalog, st.query_params.get(COMPARE_PARAM, ""))
