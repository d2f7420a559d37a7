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


def _hover_summary(text: str) -> str:
    return "<br>".join(textwrap.wrap(textwrap.shorten(text, 220, placeholder=" …"), 60))


def taxonomy_sunburst(frame: pd.DataFrame, *, highlight: str | None = None) -> go.Figure:
    """A sunburst of the taxonomy: families inside, methods outside, one colour per family."""
    colours = [FAMILY_COLOURS.get(family, FALLBACK_COLOUR) for family in frame["family"]]
    # The open node gets a dark outline so the reader sees where it sits in the whole.
    line_widths = [3 if slug == highlight else 1 for slug in frame["slug"]]
    line_colours = [HIGHLIGHT_OUTLINE if slug == highlight else "white" for slug in frame["slug"]]
    figure = go.Figure(
        go.Sunburst(
            ids=frame["slug"],
            labels=frame["name"],
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
            insidetextorientation="radial",
            maxdepth=4,
        )
    )
    figure.update_layout(margin={"t": 8, "l": 8, "r": 8, "b": 8}, height=460)
    return figure
