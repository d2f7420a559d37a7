"""Per-layer diagnostics as pure figures: a list of layer rows in, a plotly figure out.

A model's Linear layers repeat once per block (model.layers.<N>.self_attn.q_proj, ...): 210 of
them on the bundled model, too many to label as bars. They are drawn as a heatmap, the layer
index across and the projection down, so every cell is named by its row and column (the full
name on hover). Layers outside that pattern (lm_head, another architecture's names) are listed
as horizontal bars under their full names, one line each, however many there are."""

from __future__ import annotations

import math
from collections import Counter

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from app.chart_notes import add_note

ERROR_COLOUR = "#4C78A8"
OUTLIER_COLOUR = "#F58518"
CELL_PX, BAR_PX, GAP_PX = 24, 22, 80


def layer_positions(names: list[str]) -> pd.DataFrame:
    """Where each layer sits on the grid: columns name, layer (block index) and projection,
    both missing for a name that is not `<blocks>.<N>.<path>` (e.g. lm_head)."""
    parsed = []
    for name in names:
        parts = name.split(".")
        at = next((i for i in range(1, len(parts) - 1) if parts[i].isdigit()), None)
        parsed.append((name, None, None, None) if at is None
                      else (name, ".".join(parts[:at]), int(parts[at]), ".".join(parts[at + 1:])))
    containers = Counter(prefix for _, prefix, _, _ in parsed if prefix is not None)
    # One grid, of the container most layers sit in; layers of another (an encoder's beside a
    # decoder's) would share its rows and columns ambiguously, so they are listed by name.
    blocks = containers.most_common(1)[0][0] if containers else None
    paths = list(dict.fromkeys(path for _, prefix, _, path in parsed
                               if blocks is not None and prefix == blocks))
    tails = Counter(path.rsplit(".", 1)[-1] for path in paths)
    # "q_proj" reads best; the whole path only where two paths end alike (experts.0.w1, ...).
    column = {path: path.rsplit(".", 1)[-1] if tails[path.rsplit(".", 1)[-1]] == 1 else path
              for path in paths}
    rows = [{"name": name, "layer": index, "projection": column[path]}
            if blocks is not None and prefix == blocks
            else {"name": name, "layer": None, "projection": None}
            for name, prefix, index, path in parsed]
    frame = pd.DataFrame(rows, columns=["name", "layer", "projection"])
    frame["layer"] = frame["layer"].astype("Int64")
    return frame


def _number(value) -> str:
    if pd.isna(value):
        return "not measured"
    return "∞" if math.isinf(value) else f"{value:.4g}"


def _power_of_ten(exponent: int) -> str:
    return f"{10 ** exponent:,}" if exponent >= 0 else f"{10.0 ** exponent:g}"


def _layer_figure(rows: list[dict], key: str, *, title: str, log: bool, colour: str,
                  colourscale: str, details, height: int) -> go.Figure:
    frame = pd.DataFrame(rows)
    if frame.empty:
        figure = go.Figure()
        add_note(figure, "no layer diagnostics")
        return figure.update_layout(height=height)
    values = pd.to_numeric(frame[key], errors="coerce")
    hover = [f"<b>{row['name']}</b><br>{title} {_number(value)}{details(row)}"
             for (_, row), value in zip(frame.iterrows(), values)]
    # inf (a silent median channel) and nan (a layer that never ran) cannot be drawn: their
    # cell or bar stays empty and the hover says what they were.
    drawable = [v if math.isfinite(v) and (v > 0 or not log) else None for v in values]
    positions = layer_positions(list(frame["name"]))
    on_grid = positions["layer"].notna()
    layers = sorted(set(positions.loc[on_grid, "layer"]))
    projections = list(dict.fromkeys(positions.loc[on_grid, "projection"]))
    listed = list(positions.index[~on_grid])
    # A layer off the grid with no value (a skipped head: left in float) would be an empty
    # bar on a meaningless axis; it is named in a note instead.
    silent = [frame.at[i, "name"] for i in listed if drawable[i] is None]
    listed = [i for i in listed if drawable[i] is not None]
    panels_px = ([max(CELL_PX * len(projections), 80)] if layers else []) + (
        [BAR_PX * len(listed) + 20] if listed else [])
    plot_px = sum(panels_px) + GAP_PX * (len(panels_px) - 1)
    figure = make_subplots(rows=len(panels_px), cols=1, row_heights=panels_px,
                           vertical_spacing=GAP_PX / plot_px if len(panels_px) > 1 else 0.0)
    if layers:
        z = [[None] * len(layers) for _ in projections]
        text = [[""] * len(layers) for _ in projections]
        for i in positions.index[on_grid]:
            r = projections.index(positions.at[i, "projection"])
            c = layers.index(positions.at[i, "layer"])
            value = drawable[i]
            z[r][c] = math.log10(value) if log and value is not None else value
            text[r][c] = hover[i]
        colorbar = {"title": {"text": title, "side": "right"}, "thickness": 12}
        if log:
            # A log colour scale by hand: colour by log10, ticks labelled 1, 10, 100, ...
            exponents = [v for row in z for v in row if v is not None] or [0.0]
            low, high = math.floor(min(exponents)), math.ceil(max(exponents))
            ticks = list(range(low, max(high, low + 1) + 1))
            colorbar |= {"tickvals": ticks, "ticktext": [_power_of_ten(k) for k in ticks]}
        if len(panels_px) > 1:
            bottom, top = figure.layout.yaxis.domain
            colorbar |= {"len": top - bottom, "y": (top + bottom) / 2, "yanchor": "middle"}
        figure.add_trace(go.Heatmap(
            x=[int(layer) for layer in layers], y=projections, z=z, text=text,
            hovertemplate="%{text}<extra></extra>", hoverongaps=False, xgap=1, ygap=1,
            colorscale=colourscale, colorbar=colorbar, name=title,
        ), row=1, col=1)
        # A tick per layer while they fit (the bundled model's 30 do), else every 2nd or 5th.
        step = next((s for s in (1, 2, 5) if len(layers) / s <= 30), 10)
        figure.update_xaxes(title_text="layer", dtick=step, row=1, col=1)
        figure.update_yaxes(autorange="reversed", row=1, col=1)
    if listed:
        row = len(panels_px)
        names = [frame.at[i, "name"] for i in listed]
        figure.add_trace(go.Bar(
            x=[drawable[i] for i in listed], y=names, orientation="h", marker_color=colour,
            hovertext=[hover[i] for i in listed], hoverinfo="text", name=title,
        ), row=row, col=1)
        figure.update_yaxes(autorange="reversed", tickmode="array", tickvals=names,
                            ticktext=names, row=row, col=1)
        value_axis = {"title_text": title}
        if log:
            # Powers of ten only: plotly's default log labels (2, 5, 10, 2, 5, 100) misread.
            value_axis |= {"type": "log", "dtick": 1, "tickformat": ",~g"}
        figure.update_xaxes(**value_axis, row=row, col=1)
    figure.update_xaxes(automargin=True)
    figure.update_yaxes(automargin=True)
    if silent:
        figure.add_annotation(text=f"no value for {', '.join(silent[:5])} (unchanged or not run)",
                              showarrow=False, xref="paper", yref="paper", x=0, y=0,
                              xanchor="left", yanchor="top", yshift=-40, font={"size": 10})
    return figure.update_layout(height=max(height, plot_px + 100), showlegend=False,
                                margin={"t": 20, "l": 10, "r": 10, "b": 10})


def layer_error_figure(rows: list[dict], *, height: int = 320) -> go.Figure:
    """Relative output error of each quantized layer: layer by projection, others by name."""
    return _layer_figure(rows, "relative_error", title="relative output error", log=False,
                         colour=ERROR_COLOUR, colourscale="Blues", details=lambda row: "",
                         height=height)


def outlier_figure(rows: list[dict], *, height: int = 320) -> go.Figure:
    """Each layer's input outlier ratio (largest channel magnitude over the median), log scale."""
    def details(row) -> str:
        return (f"<br>channel {row.get('max_channel', '?')}, "
                f"max |x| {_number(pd.to_numeric(row.get('max_abs'), errors='coerce'))}")

    return _layer_figure(rows, "outlier_ratio", title="max |x| / median channel", log=True,
                         colour=OUTLIER_COLOUR, colourscale="Oranges", details=details,
                         height=height)
