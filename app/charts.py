"""Charts as pure functions: data in, plotly figure out. No Streamlit here."""

from __future__ import annotations

import textwrap

import pandas as pd
import plotly.graph_objects as go

from taxonomy.catalog import Catalog

# One hue per family, readable on light and dark backgrounds, safe for common colour blindness.
FAMILY_COLOURS = {
    "quantization": "#4C78A8",
    "pruning": "#F58518",
    "distillation": "#54A24B",
    "architecture": "#B279A2",
}
FALLBACK_COLOUR = "#9D9D9D"
HIGHLIGHT_OUTLINE = "#1F2933"
# Rings drawn at once: families and categories on the first view; a click zooms into a
# branch. Eighty nodes in four rings left most labels too small to read.
SUNBURST_DEPTH = 2
# Smallest label size in px; a label that would need less is hidden, not shrunk.
MIN_LABEL_SIZE = 10
LABEL_LINE_CHARS = 16


def taxonomy_frame(catalog: Catalog) -> pd.DataFrame:
    """One row per node: slug, name, parent, family, kind, depth, runnable, reference count."""
    rows = [
        {
            "slug": node.slug,
            "name": node.name,
            "parent": node.parent or "",
            "family": node.family,
            "kind": node.kind,
            "depth": depth,
            "runnable": node.runnable_recipe is not None,
            "references": len(node.references),
            "summary": node.summary,
        }
        for node, depth in catalog.walk()
    ]
    return pd.DataFrame(rows)


def _segment_label(name: str) -> str:
    # Long names on several short lines fit a segment at a readable size.
    return "<br>".join(textwrap.wrap(name, LABEL_LINE_CHARS)) or name


def _hover_summary(text: str) -> str:
    return "<br>".join(textwrap.wrap(textwrap.shorten(text, 220, placeholder=" …"), 60))


def _starting_level(frame: pd.DataFrame, highlight: str | None) -> str | None:
    # Start at the highlighted node's parent, so the node and its siblings are in view
    # however deep they sit; with no (known) highlight, start at the top.
    parents = dict(zip(frame["slug"], frame["parent"]))
    parent = parents.get(highlight) if highlight else None
    return parent if parent in parents else None


def taxonomy_sunburst(frame: pd.DataFrame, *, highlight: str | None = None) -> go.Figure:
    """A sunburst of the taxonomy, two rings at a time (families, then categories; a click
    zooms in), one colour per family, starting at the highlighted node's branch."""
    colours = [FAMILY_COLOURS.get(family, FALLBACK_COLOUR) for family in frame["family"]]
    # The open node gets a dark outline so the reader sees where it sits in the whole.
    line_widths = [3 if slug == highlight else 1 for slug in frame["slug"]]
    line_colours = [HIGHLIGHT_OUTLINE if slug == highlight else "white" for slug in frame["slug"]]
    figure = go.Figure(
        go.Sunburst(
            ids=frame["slug"],
            labels=frame["name"],
            text=frame["name"].map(_segment_label),
            textinfo="text",
            parents=frame["parent"],
            # Every leaf counts once, so a segment's size is its number of methods.
            values=[0 if kind != "method" else 1 for kind in frame["kind"]],
            branchvalues="remainder",
            customdata=list(zip(frame["slug"], frame["summary"].map(_hover_summary))),
            hovertemplate="<b>%{label}</b><br>%{customdata[1]}<extra></extra>",
            marker={
                "colors": colours,
                "line": {"color": line_colours, "width": line_widths},
            },
            # "auto" turns a label where that lets it fit at a readable size.
            insidetextorientation="auto",
            maxdepth=SUNBURST_DEPTH,
            level=_starting_level(frame, highlight),
        )
    )
    figure.update_layout(
        margin={"t": 8, "l": 8, "r": 8, "b": 8},
        height=460,
        uniformtext={"minsize": MIN_LABEL_SIZE, "mode": "hide"},
    )
    return figure
