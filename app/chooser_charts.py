"""The chooser's chart as pure functions: every candidate that fits, its memory against its
estimated speed, coloured by quality risk; the shortlist marked. No Streamlit here."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from core.chooser.rank import Answer

GIB = 2**30
# Quality risk from light to dark; readable with common colour blindness.
RISK_COLOURS = {"negligible": "#54A24B", "small": "#4C78A8", "moderate": "#F58518",
                "high": "#E45756"}
SPEED = {"throughput": ("throughput_tok_s", "output tokens per second over the batch"),
         "energy": ("energy_j_per_tok", "joules per output token")}
DEFAULT_SPEED = ("decode_tok_s", "decode tokens per second per sequence")


def options_frame(result: Answer) -> pd.DataFrame:
    """One row per candidate that fits: name, memory, the speed figures, risk, shortlist rank."""
    ranks = {option.candidate.key: rank for rank, option in enumerate(result.shortlist, 1)}
    rows = []
    for option in result.considered:
        found = option.estimate
        rows.append({
            "key": option.candidate.key, "name": option.candidate.name,
            "memory_gib": found.total_bytes / GIB, "decode_tok_s": found.decode_tok_s,
            "throughput_tok_s": found.throughput_tok_s, "request_s": found.request_s,
            "energy_j_per_tok": found.energy_j_per_tok, "risk": option.risk.level,
            "within_tolerance": option.within_tolerance, "rank": ranks.get(option.candidate.key),
        })
    return pd.DataFrame(rows)


def tradeoff_chart(frame: pd.DataFrame, *, goal: str, usable_gib: float) -> go.Figure:
    """Memory (x) against the goal's speed figure (y), one marker per candidate, coloured by
    quality risk; shortlisted ones carry their rank, the device's usable memory is a line."""
    column, label = SPEED.get(goal, DEFAULT_SPEED)
    figure = go.Figure()
    for risk, colour in RISK_COLOURS.items():
        rows = frame[frame["risk"] == risk] if not frame.empty else frame
        if rows.empty or rows[column].isna().all():
            continue
        figure.add_trace(go.Scatter(
            x=rows["memory_gib"], y=rows[column], mode="markers+text", name=f"risk: {risk}",
            text=[f"#{int(rank)}" if pd.notna(rank) else "" for rank in rows["rank"]],
            textposition="top center",
            marker={"color": colour, "size": 13, "line": {"width": 1, "color": "#1F2933"},
                    "symbol": ["circle" if within else "circle-open"
                               for within in rows["within_tolerance"]]},
            customdata=rows[["name"]], hovertemplate="%{customdata[0]}<br>%{x:.1f} GiB<br>"
            "%{y:,.3g}<extra></extra>"))
    figure.add_vline(x=usable_gib, line_dash="dot", line_color="#6B7280",
                     annotation_text="usable memory", annotation_position="top left")
    figure.update_layout(
        xaxis_title="memory (GiB): weights, KV cache, activations", yaxis_title=f"{label} "
        "(roofline estimate)", legend_title_text="quality risk (open: beyond tolerance)",
        margin={"l": 10, "r": 10, "t": 30, "b": 10}, height=420)
    return figure
