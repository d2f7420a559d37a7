"""Words written on a chart instead of data: why a plot is empty, or what it left out. Placed
in paper coordinates (0-1 across the plot area), so they stand where the reader looks
whatever the axes show."""

from __future__ import annotations

import plotly.graph_objects as go


def add_note(figure: go.Figure, text: str, *, y: float = 0.5, **style) -> go.Figure:
    """Write `text` centred across the plot at height `y` (0.5: its middle); `style` passes
    on to plotly's annotation (font, yanchor, ...)."""
    figure.add_annotation(text=text, showarrow=False, xref="paper", yref="paper", x=0.5, y=y,
                          **style)
    return figure
