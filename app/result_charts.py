"""Charts of measured runs, as pure functions: a frame of results in, a plotly figure out.

Real runs (packed weights, low-bit kernels) are filled markers; simulated runs (fake-quant,
accuracy only) are hollow, and their speed is not plotted as if it were theirs: a simulated
run computes in float, so its speed says nothing about the technique."""

from __future__ import annotations

import math

import pandas as pd
import plotly.graph_objects as go

from core.engine.metrics import METRICS

BASELINE_COLOUR = "#1F2933"
REAL_COLOUR = "#4C78A8"
SIMULATED_COLOUR = "#F58518"
REPORTED_COLOUR = "#54A24B"
FRONTIER_COLOUR = "#9D9D9D"

# Metric labels for axes and legends.
LABELS = {
    "ppl": "perplexity",
    "kl": "KL from baseline (nats/token)",
    "top1_agreement": "top-1 agreement with baseline",
    "stored_bytes": "stored size (MiB)",
    "decode_tok_s_b1": "decode tokens/s, batch 1",
    "decode_tok_s_b8": "decode tokens/s, batch 8",
    "prefill_ms": "prefill latency, 512 tokens (ms)",
    "ttft_ms": "time to first token (ms)",
    "peak_mem_bytes": "peak memory (MiB)",
    "compression_s": "compression time (s)",
    "roofline_ratio": "share of roofline bound",
    "decode_speedup_b1": "decode speedup, batch 1 (side by side)",
    "acceptance_rate": "draft acceptance rate",
    "output_matches": "output equals greedy",
}
QUALITY_METRICS = ("ppl", "kl", "top1_agreement")
SPEED_METRICS = ("decode_tok_s_b1", "decode_tok_s_b8", "prefill_ms", "ttft_ms")
DECODE_RATES = {"decode_tok_s_b1", "decode_tok_s_b8"}
# Metrics that are ratios already (measured side by side within the run): plotted as they are.
ALREADY_RELATIVE = {"decode_speedup_b1"}
BYTE_METRICS = ("stored_bytes", "peak_mem_bytes", "disk_bytes", "kv_cache_bytes")


def label(metric: str) -> str:
    """An axis label for `metric`."""
    return LABELS.get(metric, metric)


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
    points = [(sign_x * a, sign_y * b) for a, b in zip(frame[x], frame[y])]
    mask = []
    for i, (a, b) in enumerate(points):
        if a is None or b is None or math.isnan(a) or math.isnan(b):
            mask.append(False)
            continue
        dominated = any(
            j != i and c <= a and d <= b and (c < a or d < b)
            for j, (c, d) in enumerate(points)
            if not (math.isnan(c) or math.isnan(d))
        )
        mask.append(not dominated)
    return pd.Series(mask, index=frame.index)


def _usable(frame: pd.DataFrame, x: str, y: str) -> pd.DataFrame:
    if x not in frame or y not in frame:
        return frame.iloc[0:0]
    usable = frame.dropna(subset=[x, y])
    if x in SPEED_METRICS or y in SPEED_METRICS:
        # Simulated runs compute in float: their speed is the float model's, not the technique's.
        usable = usable[(usable["execution"] == "real") | (usable["kind"] == "baseline")]
    if {x, y} & DECODE_RATES and "output_matches" in usable:
        # A run with a decoding option (speculative, prompt lookup, static cache...) was timed
        # through generate() beside its own default generation, not by the engine's loop the
        # baseline was timed with: its figure is its decode speedup, not a point on this axis.
        usable = usable[usable["output_matches"].isna()]
    return usable


def _hover(frame: pd.DataFrame) -> list[str]:
    return [
        f"<b>{row['name']}</b><br>{row['model']} · {row['device_name']}<br>"
        f"execution: {row['execution']} · job {row['job_id'] if row['job_id'] else '—'}<br>"
        f"protocol {str(row['protocol_hash'])[:10]}"
        for _, row in frame.iterrows()
    ]


def tradeoff_figure(frame: pd.DataFrame, x: str, y: str, *,
                    reported: pd.DataFrame | None = None, height: int = 360) -> go.Figure:
    """`y` against `x` for every run: baseline starred, real filled, simulated hollow, the
    Pareto frontier dashed; for decode speed, each real run's roofline bound beside it."""
    usable = _usable(frame, x, y)
    figure = go.Figure()
    if not usable.empty:
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
                             & (usable["execution"] == "simulated")],
         "circle-open", SIMULATED_COLOUR, 12),
    )
    for name, part, symbol, colour, size in groups:
        if part.empty:
            continue
        figure.add_trace(go.Scatter(
            x=[_display(x, v) for v in part[x]], y=[_display(y, v) for v in part[y]],
            mode="markers+text", name=name, text=list(part["short"]),
            textposition="top center", textfont={"size": 10},
            marker={"symbol": symbol, "size": size, "color": colour,
                    "line": {"width": 2, "color": colour}},
            hovertext=_hover(part), hoverinfo="text",
        ))
    bound_axis = "x" if x == "decode_tok_s_b1" else "y" if y == "decode_tok_s_b1" else None
    if bound_axis and "roofline_decode_tok_s" in usable:
        with_bound = usable.dropna(subset=["roofline_decode_tok_s"])
        if not with_bound.empty:
            bx = with_bound["roofline_decode_tok_s"] if bound_axis == "x" else with_bound[x]
            by = with_bound[y] if bound_axis == "x" else with_bound["roofline_decode_tok_s"]
            figure.add_trace(go.Scatter(
                x=[_display(x, v) for v in bx], y=[_display(y, v) for v in by],
                mode="markers", name="roofline bound (estimate)",
                marker={"symbol": "line-ns-open" if bound_axis == "x" else "line-ew-open",
                        "size": 14, "color": FRONTIER_COLOUR, "line": {"width": 2}},
                hovertext=[f"roofline bound of {n}: {v:.1f} tokens/s"
                           for n, v in zip(with_bound["name"], with_bound["roofline_decode_tok_s"])],
                hoverinfo="text",
            ))
    if reported is not None and not reported.empty:
        # A paper reports one metric of one model; it can only be a reference level on that
        # metric's axis, labelled as reported, never a point among measured runs.
        for _, row in reported[reported["metric"] == y].iterrows():
            figure.add_hline(y=_display(y, row["value"]),
                             line={"color": REPORTED_COLOUR, "dash": "dot"},
                             annotation_text=f"reported: {row['label']}",
                             annotation_font_color=REPORTED_COLOUR)
    figure.update_layout(
        height=height, margin={"t": 30, "l": 10, "r": 10, "b": 10},
        xaxis_title=label(x), yaxis_title=label(y),
        legend={"orientation": "h", "y": -0.25},
    )
    if usable.empty:
        figure.add_annotation(text="no run has both figures", showarrow=False,
                              xref="paper", yref="paper", x=0.5, y=0.5)
    return figure


def relative_frame(frame: pd.DataFrame, metrics: list[str]) -> pd.DataFrame:
    """Each run's metrics divided by its baseline's (same model and protocol): long format
    with columns name, metric, ratio."""
    rows = []
    baselines = frame[frame["kind"] == "baseline"]
    for _, run in frame[frame["kind"] != "baseline"].iterrows():
        match = baselines[(baselines["model_key"] == run["model_key"])
                          & (baselines["device"] == run["device"])]
        if match.empty:
            continue
        base = match.iloc[0]
        timed_through_generate = not pd.isna(run.get("output_matches", float("nan")))
        for metric in metrics:
            value, reference = run.get(metric), base.get(metric)
            if metric in ALREADY_RELATIVE:
                if value is not None and not pd.isna(value):
                    rows.append({"name": run["short"], "metric": metric, "ratio": value})
                continue
            if value is None or reference in (None, 0) or pd.isna(value) or pd.isna(reference):
                continue
            if metric in SPEED_METRICS and run["execution"] != "real":
                continue
            if metric in DECODE_RATES and timed_through_generate:
                continue  # see _usable: its decode figure is decode_speedup_b1
            rows.append({"name": run["short"], "metric": metric, "ratio": value / reference})
    return pd.DataFrame(rows, columns=["name", "metric", "ratio"])


def relative_bars(frame: pd.DataFrame, metrics: list[str], *, height: int = 340) -> go.Figure:
    """Grouped bars: each metric of each run relative to its baseline (1.0 = unchanged)."""
    data = relative_frame(frame, metrics)
    figure = go.Figure()
    for metric in metrics:
        part = data[data["metric"] == metric]
        if part.empty:
            continue
        figure.add_trace(go.Bar(x=part["name"], y=part["ratio"], name=label(metric),
                                hovertemplate="%{x}: %{y:.3f}x<extra>" + label(metric) + "</extra>"))
    figure.add_hline(y=1.0, line={"color": BASELINE_COLOUR, "dash": "dot"},
                     annotation_text="baseline", annotation_position="top left")
    figure.update_layout(barmode="group", height=height, yaxis_title="relative to baseline",
                         margin={"t": 30, "l": 10, "r": 10, "b": 10},
                         legend={"orientation": "h", "y": -0.3})
    return figure


def layer_error_figure(rows: list[dict], *, height: int = 320) -> go.Figure:
    """Relative output error of each quantized layer, in model order."""
    frame = pd.DataFrame(rows)
    figure = go.Figure(go.Bar(
        x=frame["name"], y=pd.to_numeric(frame["relative_error"], errors="coerce"),
        marker_color=REAL_COLOUR, hovertemplate="%{x}<br>relative error %{y:.4f}<extra></extra>",
    ))
    figure.update_layout(height=height, yaxis_title="relative output error",
                         xaxis={"showticklabels": len(frame) <= 40},
                         margin={"t": 20, "l": 10, "r": 10, "b": 10})
    return figure


def outlier_figure(rows: list[dict], *, height: int = 320) -> go.Figure:
    """Each layer's input outlier ratio (largest channel magnitude over the median), log scale."""
    frame = pd.DataFrame(rows)
    figure = go.Figure(go.Bar(
        x=frame["name"], y=pd.to_numeric(frame["outlier_ratio"], errors="coerce"),
        marker_color=SIMULATED_COLOUR,
        customdata=list(zip(frame["max_channel"], frame["max_abs"])),
        hovertemplate="%{x}<br>outlier ratio %{y:.1f}x (channel %{customdata[0]}, "
                      "max |x| %{customdata[1]:.3g})<extra></extra>",
    ))
    figure.update_layout(height=height, yaxis_title="max |x| / median channel", yaxis_type="log",
                         xaxis={"showticklabels": len(frame) <= 40},
                         margin={"t": 20, "l": 10, "r": 10, "b": 10})
    return figure
