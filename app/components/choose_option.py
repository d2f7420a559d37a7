"""One option of the chooser's shortlist as a card: its verdict in one line, then the
arithmetic behind it (memory, roofline, quality risk with its evidence, cost and engines) and
the links that check it (its taxonomy nodes, Verify on my model).

The verdict and the tables are pure functions of the Option, testable without Streamlit."""

from __future__ import annotations

import math
from dataclasses import dataclass

import streamlit as st

from app import page_ids
from app.chooser_service import verify_params
from app.markdown_text import plain
from core.chooser.estimate import RESERVE, Estimate
from core.chooser.models import PRESETS
from core.chooser.rank import Option
from core.chooser.rules import Rules

ROOFLINE_NOTE = ("estimate: bytes over bandwidth and FLOPs over peak, the larger of the two; "
                 "real kernels reach part of it")
# Measured and gallery runs open in Results; reported figures at their node in Explore.
RUN_KINDS = ("measured", "gallery")


@dataclass(frozen=True)
class Context:
    """What every card on the page shares: the question's goal, engine and model, the rules'
    names and the taxonomy's node names."""

    goal: str
    engine: str | None
    model_ref: str
    rules: Rules
    node_names: dict[str, str]


def size(count: float) -> str:
    """Bytes in GiB, or MiB below one GiB (the bundled model's parts are a few MiB)."""
    if count >= 2**30:
        return f"{count / 2**30:,.1f} GiB"
    return f"{count / 2**20:,.0f} MiB"


def duration(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "—"
    return f"{seconds:,.2f} s" if seconds >= 1 else f"{seconds * 1000:,.1f} ms"


def flops(count: float) -> str:
    return f"{count / 1e12:,.2f} TFLOP" if count >= 1e12 else f"{count / 1e9:,.2f} GFLOP"


def gpu_time(hours: float) -> str:
    if hours <= 0:
        return "no GPU time to prepare"
    return "under 0.1 GPU-hours" if hours < 0.1 else f"about {hours:,.1f} GPU-hours"


def ratio(value: float) -> str:
    return f"{value:.2f}×" if value < 10 else f"{value:,.0f}×"


def versus_baseline(option: Option, baseline: Option) -> str | None:
    """Memory and decode speed against the uncompressed BF16 model, where that one fits."""
    base, found = baseline.estimate, option.estimate
    if option.candidate.key == baseline.candidate.key or not base.fits or not found.fits \
            or not base.decode_tok_s:
        return None
    return (f"vs BF16: {ratio(found.total_bytes / base.total_bytes)} memory, "
            f"{ratio(found.decode_tok_s / base.decode_tok_s)} decode speed")


def verdict(option: Option, baseline: Option, goal: str) -> str:
    """The option in one line: fit, speed, the figure its goal ranks by, quality risk."""
    found = option.estimate
    parts = [f"fits: {size(found.total_bytes)} of {size(found.usable_bytes)} usable"]
    if found.offloaded_bytes:
        parts[0] += f", {size(found.offloaded_bytes)} of it offloaded to host memory"
    parts.append(f"decode ≈ {found.decode_tok_s:,.0f} tok/s per sequence (roofline estimate)")
    parts.append(f"request ≈ {duration(found.request_s)}")
    if goal in ("throughput", "energy"):
        parts.append(f"≈ {found.throughput_tok_s:,.0f} tok/s at batch {found.batch}")
    if goal == "energy" and found.energy_j_per_tok is not None:
        parts.append(f"≈ {found.energy_j_per_tok:.3g} J per token")
    parts.append(f"quality risk: {option.risk.level} ({option.risk.basis})")
    compared = versus_baseline(option, baseline)
    if compared:
        parts.append(compared)
    return " · ".join(parts)


def memory_table(found: Estimate, requested_batch: int) -> str:
    """The memory arithmetic as a Markdown table, total against what is usable."""
    rows = [("Weights", found.memory.weights), ("KV cache", found.memory.kv_cache),
            ("Activations", found.memory.activations)]
    if found.draft_bytes:
        rows.append(("Draft model", found.draft_bytes))
    lines = ["| Part | Memory |", "|---|---:|"]
    lines += [f"| {name} | {size(count)} |" for name, count in rows]
    lines.append(f"| **Total** | **{size(found.total_bytes)}** |")
    lines.append(f"| Usable ({100 - RESERVE * 100:.0f} % of the device memory) | "
                 f"{size(found.usable_bytes)} |")
    if found.offloaded_bytes:
        lines.append(f"| Offloaded to host memory | {size(found.offloaded_bytes)} |")
    batch = f"At batch {found.batch}"
    if found.batch != requested_batch:
        batch += f" (the workload asked for {requested_batch}; the most that fits is used)"
    return "\n".join(lines) + f"\n\n{batch}; the most sequences that fit: {found.max_batch:,}."


def roofline_table(found: Estimate) -> str:
    """Prefill and decode: bytes moved, FLOPs, which bound decides, the time it takes."""
    lines = ["| Step | Bytes | Compute | Bound | Time |", "|---|---:|---:|---|---:|"]
    for name, step in (("Prefill", found.prefill), ("Decode step", found.decode)):
        if step is not None:
            lines.append(f"| {name} | {size(step.bytes)} | {flops(step.flops)} | {step.bound} "
                         f"| {duration(step.seconds)} |")
    return "\n".join(lines)


def _memory(option: Option, requested_batch: int) -> None:
    found = option.estimate
    with st.expander(f"Memory: {size(found.total_bytes)} of {size(found.usable_bytes)} usable"):
        st.markdown(memory_table(found, requested_batch))


def _speed(option: Option) -> None:
    found = option.estimate
    with st.expander(f"Speed: decode ≈ {found.decode_tok_s:,.0f} tok/s per sequence"):
        st.markdown(roofline_table(found))
        st.caption(f"{ROOFLINE_NOTE}. Prefill reads the weights once for the whole prompt; "
                   "a decode step makes one token for each sequence of the batch. "
                   f"Request: prefill plus every output token, "
                   f"{duration(found.request_s)}; {found.throughput_tok_s:,.0f} output tok/s "
                   f"over a batch of {found.batch}.")
        if option.candidate.speed_note:
            st.caption(f"Speed rule: {option.candidate.speed_note}.")


def _evidence_link(item, context: Context) -> None:
    if item.kind in RUN_KINDS and item.result_id is not None:
        st.page_link(page_ids.RESULTS.script, label=f"Run {item.result_id} in Results",
                     icon=":material/scatter_plot:", query_params={"runs": str(item.result_id)})
    elif item.node:
        st.page_link(page_ids.EXPLORE.script, icon=":material/account_tree:",
                     label=f"{context.node_names.get(item.node, item.node)} in Explore",
                     query_params={"technique": item.node})


def _quality(option: Option, context: Context) -> None:
    risk = option.risk
    count = len(risk.evidence)
    label = f"Quality risk: {risk.level} ({risk.basis})"
    with st.expander(label + (f" · {count} evidence item{'s' * (count != 1)}" if count else "")):
        # The reason may quote a measured run's model name, which a user typed.
        st.markdown(f"**{risk.level}**, from {risk.basis}: {plain(risk.reason, 600)}")
        if not risk.evidence:
            st.caption("No measured or reported perplexity for it yet: the rules' prior decides.")
        for item in risk.evidence:
            deciding = " **(decides)**" if item is risk.deciding else ""
            st.markdown(f"- {plain(item.describe(), 600)}{deciding}")
            _evidence_link(item, context)


def _cost_and_engines(option: Option, context: Context) -> None:
    candidate = option.candidate
    with st.expander("Cost, library and engines"):
        needs = [what for what, needed in (("calibration data", candidate.calibration),
                                           ("training", candidate.training)) if needed]
        st.markdown(f"**Needs**: {' and '.join(needs) if needs else 'no data and no training'}"
                    f"; {gpu_time(option.gpu_hours)} on this model.")
        if candidate.cost_note:
            st.caption(candidate.cost_note)
        st.markdown(f"**Library**: {plain(candidate.library)}")
        engines = context.rules.engines
        if context.engine and option.engine_how:
            shown = {context.engine: option.engine_how}
        else:
            shown = dict(candidate.engines)
        st.markdown("\n".join(f"- **{engines[key].name}**: `{how}`" for key, how in shown.items()))


def _links(option: Option, context: Context, baseline_key: str) -> None:
    candidate = option.candidate
    columns = st.columns([2, 3])
    with columns[0]:
        params = verify_params(option, context.model_ref)
        if params is not None:
            # A size preset has no weights: its steps run on the bundled model instead
            # (the page says so once, above the shortlist).
            preset = context.model_ref in PRESETS
            st.page_link(page_ids.LAUNCH.script,
                         label="Verify on the bundled model" if preset else "Verify on my model",
                         icon=":material/rocket_launch:", query_params=params,
                         help="Opens Launch with these steps filled in")
        elif candidate.key == baseline_key:
            st.caption("The baseline: every OptAtlas run measures it beside its result.")
        else:
            st.caption("OptAtlas cannot run this one here.")
        if candidate.verify_note:
            st.caption(candidate.verify_note)
    with columns[1]:
        for slug in candidate.nodes:
            st.page_link(page_ids.EXPLORE.script, icon=":material/account_tree:",
                         label=f"Read: {context.node_names.get(slug, slug)}",
                         query_params={"technique": slug})


def show_option(number: int, option: Option, baseline: Option, context: Context,
                requested_batch: int) -> None:
    """One option of the shortlist, numbered, in its own bordered card."""
    with st.container(border=True):
        flag = "" if option.within_tolerance else \
            " :orange-badge[:material/warning: exceeds your tolerance]"
        st.markdown(f"**{number}. {option.candidate.name}**{flag}")
        st.markdown(verdict(option, baseline, context.goal))
        st.caption(option.candidate.summary)
        # Two by two: the arithmetic stays one glance tall until a reader opens a part.
        top, bottom = st.columns(2), st.columns(2)
        with top[0]:
            _memory(option, requested_batch)
        with top[1]:
            _speed(option)
        with bottom[0]:
            _quality(option, context)
        with bottom[1]:
            _cost_and_engines(option, context)
        _links(option, context, baseline.candidate.key)
