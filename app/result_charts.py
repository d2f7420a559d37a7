"""Charts of measured runs, as pure functions: a frame of results in, a plotly figure out.

Real runs (packed weights, low-bit kernels) are filled markers; simulated runs (fake-quant,
accuracy only) are hollow, and their speed and peak memory are not plotted as if they were
theirs: a simulated run computes in float, so those say nothing about the technique."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

# The Results page draws the per-layer charts from here; app.layer_charts is their home.
from app.chart_notes import add_note
from app.layer_charts import layer_error_figure, outlier_figure  # noqa: F401
from core.engine.metrics import METRICS

BASELINE_COLOUR = "#1F2933"
REAL_COLOUR = "#4C78A8"
SIMULATED_COLOUR = "#F58518"
REPORTED_COLOUR = "#54A24B"
FRONTIER_COLOUR = "#9D9D9D"

QUALITY_METRICS = ("ppl", "kl", "top1_agreement")
SPEED_METRICS = ("decode_tok_s_b1", "decode_tok_s_b8", "prefill_ms", "ttft_ms")
# Measured while the model computes: a simulated run computes in float, so its speed and its
# peak memory are the float model's, not the technique's.
REAL_ONLY_METRICS = (*SPEED_METRICS, "peak_mem_bytes")
DECODE_RATES = {"decode_tok_s_b1", "decode_tok_s_b8"}
# Metrics that are ratios already (measured side by side within the run): plotted as they are.
ALREADY_RELATIVE = {"decode_speedup_b1"}
BYTE_METRICS = ("stored_bytes", "packed_bytes_computed", "peak_mem_bytes", "disk_bytes",
                "kv_cache_bytes")
# A simulated run stores its weights in float: on the size axis it stands at the size its
# format takes packed, computed from the layer shapes, and is marked so.
COMPUTED_SIZE = "packed_bytes_computed"
COMPUTED_SIZE_GROUP = "simulated · packed size, computed"
# A roofline bound further than this beyond the fastest measured run would squash every measured
# point against the axis: it is written at the plot's edge instead of drawn at its value.
ROOFLINE_REACH = 1.5
NOTE_ROOM = 0.6  # share of the measured span left empty at that edge for those notes
LABEL_CHARS = 18  # longer run names are cut on the figure; hover keeps them whole


def label(metric: str) -> str:
    """An axis label for `metric`, from the engine's one vocabulary of metrics."""
    known = METRICS.get(metric)
    return known.axis_label() if known else metric


def _display(metric: str, value):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return value / 2**20 if metric in BYTE_METRICS else value


def lower_is_better(metric: str) -> bool:
    """Direction of `metric` (from the shared vocabulary)."""
    return METRICS[metric].lower_is_better if metric in METRICS else True


def pareto_mask(frame: pd.DataFrame, x: str, y: str) -> pd.Series:
    """True for rows no other row beats on both `x` and `y` (each in its own direction)."""
    sign_x = 1 if lower_is_better(x) else -1
    sign_y = 1 if lower_is_better(y) else -1
    a = sign_x * pd.to_numeric(frame[x], errors="coerce").to_numpy(dtype=float)
    b = sign_y * pd.to_numeric(frame[y], errors="coerce").to_numpy(dtype=float)
    known = ~(np.isnan(a) | np.isnan(b))
    # dominated[i]: some known j is no worse on both and better on one (all pairs at once:
    # a room's day of runs is a thousand points, a million comparisons in numpy).
    no_worse = (a[None, :] <= a[:, None]) & (b[None, :] <= b[:, None])
    better = (a[None, :] < a[:, None]) | (b[None, :] < b[:, None])
    dominated = (no_worse & better & known[None, :]).any(axis=1)
    return pd.Series(known & ~dominated, index=frame.index)


def with_computed_sizes(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with each simulated run's stored size replaced by its packed size, computed
    (where it has one), and a `size_computed` column saying which rows were."""
    frame = frame.copy()
    if COMPUTED_SIZE not in frame or "stored_bytes" not in frame:
        frame["size_computed"] = False
        return frame
    computed = ((frame["execution"] == "simulated") & (frame["kind"] != "baseline")
                & frame[COMPUTED_SIZE].notna())
    frame.loc[computed, "stored_bytes"] = frame.loc[computed, COMPUTED_SIZE]
    frame["size_computed"] = computed
    return frame


def _usable(frame: pd.DataFrame, x: str, y: str) -> pd.DataFrame:
    if x not in frame or y not in frame:
        return frame.iloc[0:0]
    usable = frame.dropna(subset=[x, y])
    if x in REAL_ONLY_METRICS or y in REAL_ONLY_METRICS:
        # Simulated runs compute in float: their speed is the float model's, not the technique's.
        usable = usable[(usable["execution"] == "real") | (usable["kind"] == "baseline")]
    if {x, y} & DECODE_RATES and "output_matches" in usable:
        # A run with a decoding option (speculative, prompt lookup, static cache...) was timed
        # through generate() beside its own default generation, not by the engine's loop the
        # baseline was timed with: its figure is its decode speedup, not a point on this axis.
        usable = usable[usable["output_matches"].isna()]
    return usable


def _clip(text, limit: int = LABEL_CHARS) -> str:
    text = str(text)
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _hover(frame: pd.DataFrame) -> list[str]:
    return [
        f"<b>{row['name']}</b><br>{row['model']} · {row['device_name']}<br>"
        f"execution: {row['execution']} · job "
        f"{'—' if pd.isna(row['job_id']) else int(row['job_id'])}<br>"
        f"protocol {str(row['protocol_hash'])[:10]}"
        + (f"<br>{row['measured_how']}" if isinstance(row.get("measured_how"), str) else "")
        for _, row in frame.iterrows()
    ]


def _tick_step(low: float, high: float, minimum: int) -> float:
    # The largest round step (1, 2 or 5 times a power of ten) that still puts `minimum`
    # ticks inside the range: four plots share a row, and more labels turn sideways.
    def ticks(step: float) -> int:
        return math.floor(high / step + 1e-9) - math.ceil(low / step - 1e-9) + 1

    magnitude = 10.0 ** math.floor(math.log10((high - low) / minimum))
    steps = [m * magnitude * scale for scale in (1, 0.1) for m in (5, 2, 1)]
    return next((step for step in steps if ticks(step) >= minimum), steps[-1])


def _label_positions(values: list, low: float, high: float) -> list[str]:
    """Where each point's label goes: toward the middle of the plot, so that labels of
    points near an edge are not cut off by the figure's border."""
    if high <= low:
        return ["top center"] * len(values)
    third = (high - low) / 3
    return ["top right" if v is not None and v < low + third else
            "top left" if v is not None and v > high - third else "top center"
            for v in values]


# Beyond this ratio of the largest shown value to the smallest, an axis turns logarithmic.
LOG_AXIS_SPREAD = 50.0


def _axis(metric: str, values: list, *, room: float = 0.0, minimum_ticks: int = 3) -> dict:
    """Range, ticks and title of `metric`'s axis, set by the displayed `values`, with `room`
    (a share of their span) left empty above them."""
    finite = [v for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return {"title": {"text": label(metric)}, "automargin": True}
    low, high = min(finite), max(finite)
    if low > 0 and high / low > LOG_AXIS_SPREAD:
        # A broken run (perplexity in the millions) beside working ones: on a linear axis
        # every working run would sit on one line at the bottom.
        return {"title": {"text": f"{label(metric)} (log scale)"}, "type": "log",
                "automargin": True}
    # A lone point (only the baseline) gets room around it too, not plotly's +-1.
    pad = (high - low) * 0.08 or abs(high) * 0.1 or 1.0
    low, high = low - pad, high + pad
    high += room * (high - low)
    step = _tick_step(low, high, minimum_ticks)
    # As many decimals as the tick step needs and no more: whole ms and MiB with thousands
    # separators ("7,000", not "7,446.5"), two or three digits of perplexity, KL or tokens/s.
    # Decimals appear only when the runs lie closer than one unit, where whole numbers repeat.
    decimals = max(0, -math.floor(math.log10(step) + 1e-9))
    return {"title": {"text": label(metric)}, "range": [low, high], "dtick": step,
            "tickformat": f",.{decimals}f", "automargin": True}


def _roofline_bounds(usable: pd.DataFrame, x: str, y: str):
    """(axis of the bound, runs whose bound is within reach, runs whose bound is beyond it)."""
    axis = "x" if x == "decode_tok_s_b1" else "y" if y == "decode_tok_s_b1" else None
    if axis is None or "roofline_decode_tok_s" not in usable or usable.empty:
        return axis, usable.iloc[0:0], usable.iloc[0:0]
    with_bound = usable.dropna(subset=["roofline_decode_tok_s"])
    far = with_bound["roofline_decode_tok_s"] > ROOFLINE_REACH * usable["decode_tok_s_b1"].max()
    return axis, with_bound[~far], with_bound[far]


def tradeoff_figure(frame: pd.DataFrame, x: str, y: str, *,
                    reported: pd.DataFrame | None = None, height: int = 360) -> go.Figure:
    """`y` against `x` for every run: baseline starred, real filled, simulated hollow, the
    Pareto frontier dashed; for decode speed, each real run's roofline bound beside it. On a
    stored-size axis a simulated run stands at its packed size, computed (a hollow diamond)."""
    sized = "stored_bytes" in (x, y)
    usable = _usable(with_computed_sizes(frame) if sized else frame, x, y)
    computed = usable["size_computed"] if sized else pd.Series(False, index=usable.index)
    figure = go.Figure()
    xs = [_display(x, v) for v in usable[x]] if x in usable else []  # absent: none measured it
    ys = [_display(y, v) for v in usable[y]] if y in usable else []
    if len(usable) > 1:  # a lone point has no frontier to draw
        front = usable[pareto_mask(usable, x, y)].sort_values(x)
        figure.add_trace(go.Scatter(
            x=[_display(x, v) for v in front[x]], y=[_display(y, v) for v in front[y]],
            mode="lines", name="Pareto frontier", hoverinfo="skip",
            line={"color": FRONTIER_COLOUR, "dash": "dash", "shape": "hv"
                  if lower_is_better(x) == lower_is_better(y) else "linear"},
        ))
    groups = (
        ("baseline", usable[usable["kind"] == "baseline"], "star", BASELINE_COLOUR, 16),
        ("real kernel", usable[(usable["kind"] != "baseline") & (usable["execution"] == "real")],
         "circle", REAL_COLOUR, 12),
        ("simulated", usable[(usable["kind"] != "baseline")
                             & (usable["execution"] == "simulated") & ~computed],
         "circle-open", SIMULATED_COLOUR, 12),
        (COMPUTED_SIZE_GROUP, usable[computed], "diamond-open", SIMULATED_COLOUR, 12),
    )
    shown_x = [_display(x, v) for v in usable[x]] if x in usable else []
    finite_x = [v for v in shown_x if v is not None and math.isfinite(v)]
    low_x, high_x = (min(finite_x), max(finite_x)) if finite_x else (0.0, 0.0)
    for name, part, symbol, colour, size in groups:
        if part.empty:
            continue
        part_x = [_display(x, v) for v in part[x]]
        figure.add_trace(go.Scatter(
            x=part_x, y=[_display(y, v) for v in part[y]],
            mode="markers+text", name=name, text=[_clip(s) for s in part["short"]],
            # Labels above the top points are drawn whole; those near a side lean inward.
            textposition=_label_positions(part_x, low_x, high_x), textfont={"size": 10},
            cliponaxis=False,
            marker={"symbol": symbol, "size": size, "color": colour,
                    "line": {"width": 2, "color": colour}},
            hovertext=_hover(part), hoverinfo="text",
        ))
    bound_axis, within, beyond = _roofline_bounds(usable, x, y)
    if not within.empty:
        bx = within["roofline_decode_tok_s"] if bound_axis == "x" else within[x]
        by = within[y] if bound_axis == "x" else within["roofline_decode_tok_s"]
        (xs if bound_axis == "x" else ys).extend(bx if bound_axis == "x" else by)
        figure.add_trace(go.Scatter(
            x=[_display(x, v) for v in bx], y=[_display(y, v) for v in by],
            mode="markers", name="roofline bound (estimate)",
            marker={"symbol": "line-ns-open" if bound_axis == "x" else "line-ew-open",
                    "size": 14, "color": FRONTIER_COLOUR, "line": {"width": 2}},
            hovertext=[f"roofline bound of {n}: {v:.1f} tokens/s"
                       for n, v in zip(within["name"], within["roofline_decode_tok_s"])],
            hoverinfo="text",
        ))
    if reported is not None and not reported.empty:
        # A paper reports one metric of one model; it can only be a reference level on that
        # metric's axis, labelled as reported, never a point among measured runs.
        for _, row in reported[reported["metric"] == y].iterrows():
            ys.append(_display(y, row["value"]))
            figure.add_hline(y=_display(y, row["value"]),
                             line={"color": REPORTED_COLOUR, "dash": "dot"},
                             annotation_text=f"reported: {row['label']}",
                             annotation_font_color=REPORTED_COLOUR)
    stacked: dict = {}
    # The fastest run sits at the edge: the notes get an empty band there, not its marker.
    room = {bound_axis: NOTE_ROOM} if not beyond.empty else {}
    # Set by every value shown, reported levels included. Two labels read a narrow
    # horizontal scale; more would turn sideways and collide.
    x_axis = _axis(x, xs, room=room.get("x", 0.0), minimum_ticks=2)
    y_axis = _axis(y, ys, room=room.get("y", 0.0))
    level_axis = y_axis if bound_axis == "x" else x_axis
    for _, run in beyond.iterrows():
        # Off the scale the measured runs set: written at the plot's edge, level with its run.
        bound = run["roofline_decode_tok_s"]
        at = _display(y, run[y]) if bound_axis == "x" else _display(x, run[x])
        if level_axis.get("type") == "log" and at > 0:
            at = math.log10(at)  # plotly places annotations on a log axis by the exponent
        stacked[at] = stacked.get(at, -1) + 1
        edge = ({"xref": "paper", "x": 1, "xanchor": "right", "yref": "y", "y": at}
                if bound_axis == "x" else
                {"xref": "x", "x": at, "yref": "paper", "y": 1, "yanchor": "top"})
        figure.add_annotation(
            text=f"roofline bound {'→' if bound_axis == 'x' else '↑'}<br>"
            f"{bound:,.0f} tok/s (estimate)",
            showarrow=False, font={"size": 10, "color": FRONTIER_COLOUR}, align="right",
            bgcolor="rgba(255,255,255,0.8)", yshift=-24 * stacked[at], **edge,
            hovertext=f"roofline bound of {run['name']}: {bound:,.1f} tokens/s (an estimate)")
    figure.update_layout(
        height=height,
        margin={"t": 40, "l": 10, "r": 20, "b": 10},
        xaxis=x_axis,
        yaxis=y_axis,
        legend={"orientation": "h", "y": -0.25},
    )
    if usable.empty:
        add_note(figure, "no run has both figures")
    elif (usable["kind"] == "baseline").all():
        # Runs the plot leaves out (simulated ones on speed and memory axes) are named as
        # the reason, so that the note does not tell someone with runs selected to add one.
        left_out = (frame["kind"] != "baseline").any()
        text = (
            "simulated runs left out here:<br>they compute in float"
            if left_out
            else "only the baseline:<br>add a run to compare"
        )
        add_note(figure, text, y=1.0, yanchor="bottom", font={"size": 10})
    return figure


def relative_frame(frame: pd.DataFrame, metrics: list[str]) -> pd.DataFrame:
    """Each run's metrics divided by its baseline's (same model and protocol): long format
    with columns name, metric, ratio, full_name."""
    rows = []
    baselines = {}
    # A gallery run reads against the gallery's baseline, one measured here against this
    # server's (frames without a source column hold runs measured here only).
    for base in frame[frame["kind"] == "baseline"].to_dict("records"):
        baselines.setdefault((base["model_key"], base["device"], base.get("source", "here")),
                             base)  # the first, as before
    for run in frame[frame["kind"] != "baseline"].to_dict("records"):
        base = baselines.get((run["model_key"], run["device"], run.get("source", "here")))
        if base is None:
            continue
        timed_through_generate = not pd.isna(run.get("output_matches", float("nan")))
        names = {"name": run["short"], "full_name": run["name"]}
        for metric in metrics:
            value, reference = run.get(metric), base.get(metric)
            if metric in ALREADY_RELATIVE:
                if value is not None and not pd.isna(value):
                    rows.append({**names, "metric": metric, "ratio": value})
                continue
            if value is None or reference in (None, 0) or pd.isna(value) or pd.isna(reference):
                continue
            if metric in REAL_ONLY_METRICS and run["execution"] != "real":
                continue
            if metric in DECODE_RATES and timed_through_generate:
                continue  # see _usable: its decode figure is decode_speedup_b1
            rows.append({**names, "metric": metric, "ratio": value / reference})
    return pd.DataFrame(rows, columns=["name", "metric", "ratio", "full_name"])


def relative_bars(frame: pd.DataFrame, metrics: list[str], *, height: int = 340) -> go.Figure:
    """Bars of each run's metrics relative to its baseline (1.0 = unchanged), in two panels:
    the metrics where lower is better and those where higher is better."""
    data = relative_frame(frame, metrics)
    # A ratio below 1 is a gain for perplexity and a loss for speed: mixed on one axis the bars
    # read backwards half the time, so each direction gets its own panel, titled.
    panels = [
        (title, [m for m in metrics if lower_is_better(m) is lower and m in set(data["metric"])])
        for title, lower in (("lower is better ↓", True), ("higher is better ↑", False))
    ]
    panels = [(title, shown) for title, shown in panels if shown]
    if not panels:
        figure = go.Figure()
        add_note(figure, "no run to compare with a baseline of its model and device")
        return figure.update_layout(height=height)
    figure = make_subplots(
        rows=1, cols=len(panels), subplot_titles=[t for t, _ in panels], horizontal_spacing=0.1
    )
    for column, (_, shown) in enumerate(panels, start=1):
        for metric in shown:
            part = data[data["metric"] == metric]
            figure.add_trace(
                go.Bar(
                    x=part["name"],
                    y=part["ratio"],
                    name=label(metric),
                    customdata=part["full_name"],
                    hovertemplate="%{customdata}: %{y:.3f}x<extra>" + label(metric) + "</extra>",
                ),
                row=1,
                col=column,
            )
        figure.add_hline(
            y=1.0,
            line={"color": BASELINE_COLOUR, "dash": "dot"},
            annotation_text="baseline",
            annotation_position="top left",
            row=1,
            col=column,
        )
        names = list(dict.fromkeys(data[data["metric"].isin(shown)]["name"]))
        figure.update_xaxes(
            tickmode="array",
            tickvals=names,
            ticktext=[_clip(n) for n in names],
            tickangle=-30,
            automargin=True,
            row=1,
            col=column,
        )
    figure.update_yaxes(title_text="relative to baseline", automargin=True, row=1, col=1)
    figure.update_layout(
        barmode="group",
        height=height,
        margin={"t": 40, "l": 10, "r": 10, "b": 10},
        legend={"orientation": "h", "y": -0.35},
    )
    return figure
