"""Results: measured runs side by side. Trade-off plots with the Pareto frontier and the
baseline, bars relative to the baseline, real and simulated told apart, the roofline beside
measured speed, reported numbers where they match, per-layer diagnostics, exports, and a URL
that reopens the same selection."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app import (
    layer_charts,
    page_ids,
    result_charts,
    results_export,
    results_service,
    services,
    workshop,
)
from app import results_selection as selection
from app.markdown_text import plain
from app.views import model_exports
from core.engine.metrics import METRICS, format_value

CHOICE_KEY = "results-choice"
WHOSE_KEY = "results-whose"
TRADEOFF_AXES = ("stored_bytes", "decode_tok_s_b1", "prefill_ms", "peak_mem_bytes")
# Reported numbers on the runs' model that differ in window or level, named under the plots.
MAX_NEAR_MISSES = 3
# Decode speed is the lean path's (static cache, compiled step); plain transformers
# generate() stands beside it, and the roofline columns show how far each is from the bound.
TABLE_METRICS = ("ppl", "kl", "top1_agreement", "stored_bytes", "packed_bytes_computed",
                 "decode_tok_s_b1",
                 "generate_tok_s_b1", "decode_tok_s_b8", "decode_speedup_b1", "acceptance_rate",
                 "output_matches", "prefill_ms", "roofline_decode_tok_s", "roofline_ratio",
                 "overhead_share", "decode_first_call_s", "compression_s", "peak_mem_bytes")
LEAN_NOTE = (
    "decode tokens/s is timed on OptAtlas's lean path (static KV cache, the one-token step "
    "compiled, its compile time kept apart as decode compile); transformers generate, batch 1 "
    "is what plain transformers generate() gives the same model, timed beside it. overhead "
    "share: the part of a lean decode step that reading the step's bytes at the measured "
    "bandwidth does not explain.")
SIDE_BY_SIDE_NOTE = (
    "decode speedup b1 of an inference-time technique (cache, compile, speculative or "
    "prompt-lookup decoding) is against the same model's default generate(), timed beside it "
    "in the same job; its decode tokens/s is timed through generate() from the end of the "
    "first step. output matches: 1 when its tokens equal the default greedy output.")


def _pool(frame: pd.DataFrame) -> pd.DataFrame:
    """The runs the filters let through (baselines stay: a run is read against one)."""
    models = st.session_state.get("results-model") or []
    recipes = st.session_state.get("results-recipe") or []
    protocol = st.session_state.get("results-protocol", "any")
    pool = _whose(frame)
    if models:
        pool = pool[pool["model"].isin(models)]
    if recipes:
        pool = pool[pool["recipe"].isin(recipes) | (pool["kind"] == "baseline")]
    if protocol and protocol != "any":
        pool = pool[pool["protocol_hash"] == protocol]
    return pool


def _whose(frame: pd.DataFrame) -> pd.DataFrame:
    """In a workshop room: the attendee's own runs, or everyone's with each computed run
    once (a reused run repeats the numbers of the run it reuses); baselines always."""
    if workshop.room() is None or "owner" not in frame:
        return frame
    baseline = frame["kind"] == "baseline"
    if st.session_state.get(WHOSE_KEY, "mine") == "mine":
        return frame[baseline | (frame["owner"] == workshop.session_owner())]
    return frame[baseline | frame["reused_from"].isna()]


def _refilter(frame: pd.DataFrame) -> None:
    # Runs before the rerun: a narrower pool keeps what it can of the selection instead of
    # emptying it.
    chosen = st.session_state.get(CHOICE_KEY, [])
    st.session_state[CHOICE_KEY] = selection.refilter(frame, chosen, _pool(frame))
    _remember(frame)


def _remember(frame: pd.DataFrame) -> None:
    params = selection.url_params(frame, st.session_state.get(CHOICE_KEY, []))
    for name in (selection.JOBS_PARAM, selection.RUNS_PARAM):
        if name in params:
            st.query_params[name] = params[name]
        else:
            st.query_params.pop(name, None)


def _first_selection(frame: pd.DataFrame) -> list[int]:
    return selection.initial_selection(
        frame, jobs=selection.parse_ids(st.query_params.get(selection.JOBS_PARAM)),
        runs=selection.parse_ids(st.query_params.get(selection.RUNS_PARAM)),
        followed=st.session_state.get("followed_job"))


def _filters(frame: pd.DataFrame) -> None:
    if workshop.room() is not None:
        st.radio("Show", ["mine", "everyone"], horizontal=True, key=WHOSE_KEY,
                 format_func={"mine": "my runs", "everyone": "everyone's"}.get,
                 on_change=_refilter, args=(frame,))
    columns = st.columns(3)
    columns[0].multiselect("Model", sorted(frame["model"].unique()), key="results-model",
                           on_change=_refilter, args=(frame,))
    columns[1].multiselect("Technique", sorted(frame["recipe"].unique()), key="results-recipe",
                           on_change=_refilter, args=(frame,))
    protocols = frame.drop_duplicates("protocol_hash")
    names = {h: f"{c or 'corpus ?'} · {h[:10]}" for h, c in
             zip(protocols["protocol_hash"], protocols["corpus"])}
    columns[2].selectbox("Protocol", ["any", *names], format_func=lambda h: names.get(h, "any"),
                         key="results-protocol", on_change=_refilter, args=(frame,))


def _run_label(run: pd.Series) -> str:
    who = run["short"] if run["kind"] != "baseline" else f"baseline (result {run['result_id']})"
    return f"{who} · {run['model']} · {run['execution']}"


def _table(selected: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for _, run in selected.iterrows():
        row = {"run": run["short"], "execution": run["execution"], "device": run["device_name"],
               "recipe": run["recipe"]}
        for metric in TABLE_METRICS:
            value = run.get(metric)
            row[metric] = format_value(metric, None if pd.isna(value) else value)
        rows.append(row)
    return pd.DataFrame(rows)


def _diagnostics(selected: pd.DataFrame) -> None:
    with_rows = [(int(r["result_id"]), r["short"]) for _, r in selected.iterrows()
                 if r["kind"] != "baseline"]
    if not with_rows:
        return
    st.subheader("Per-layer diagnostics", anchor=False)
    names = dict(with_rows)
    chosen = st.selectbox("Run", list(names), format_func=names.get, key="results-diagnose")
    result = results_service.result_details(chosen)
    if not result or not result.diagnostics:
        note = next((n for n in (result.notes if result else []) if "diagnostics" in n), None)
        st.info(note or "This run has no per-layer diagnostics (they were switched off).")
        return
    columns = st.columns(2)
    with columns[0]:
        st.caption("Quantization error per layer: ‖Y_q − Y‖ / ‖Y‖ on calibration text")
        st.plotly_chart(layer_charts.layer_error_figure(result.diagnostics),
                        width="stretch")
    with columns[1]:
        st.caption("Activation outliers per layer: largest input channel over the median")
        st.plotly_chart(layer_charts.outlier_figure(result.diagnostics),
                        width="stretch")


def render() -> None:
    """The Results page."""
    st.header("Results", anchor=False)
    frame = results_service.results_frame()
    if frame.empty:
        st.info("No measured runs yet. Launch a technique from its page in Explore; its result "
                "appears here next to the baseline.")
        st.page_link(page_ids.EXPLORE.script, label="Explore the techniques",
                     icon=":material/account_tree:")
        return
    _filters(frame)
    pool = _pool(frame)
    labels = {int(r["result_id"]): _run_label(r) for _, r in pool.iterrows()}
    if CHOICE_KEY not in st.session_state:
        st.session_state[CHOICE_KEY] = [i for i in _first_selection(frame) if i in labels]
    chosen = st.multiselect(
        "Runs",
        list(labels),
        format_func=labels.get,
        key=CHOICE_KEY,
        on_change=_remember,
        args=(frame,),
    )
    selected = frame[frame["result_id"].isin(chosen)]
    if selected.empty:
        st.info("Choose runs to compare.")
        return
    share = "&".join(f"{k}={v}" for k, v in selection.url_params(frame, chosen).items())
    st.caption(
        f"Showing {selection.describe(frame, chosen)}. The link /results?{share} reopens "
        "this selection: `jobs=` takes job numbers (their baselines come along), `runs=` "
        "result ids."
    )
    if (selected["kind"] == "baseline").all():
        st.info(
            "Only a baseline is selected: add a run to compare with it.",
            icon=":material/add_chart:",
        )
    if selected["model_key"].astype(str).str.startswith("default:").any():
        st.caption(f":material/info: {results_service.BUNDLED_CAVEAT}")
    gallery = selected[selected["source"] == "gallery"] if "source" in selected else selected[:0]
    if not gallery.empty:
        cpus = sorted(str(cpu) for cpu in gallery["device_name"].dropna().unique())
        where = gallery.iloc[0]["measured_how"] if len(cpus) <= 1 else \
            "gallery: measured on " + " and on ".join(cpus)
        st.caption(
            f":material/photo_library: Runs named \"gallery · …\" are OptAtlas's own, shipped "
            f"with it ({where}); they read against the gallery's baseline, and runs measured "
            "here against this server's. A speed figure compares only with those of the same "
            "CPU, and on a shared machine batch-1 decode varies more between runs than within "
            "one: a speedup a run measured side by side (speculative decoding's) is the "
            "firmer figure.")
    if selected["protocol_hash"].nunique() > 1:
        st.warning(
            "These runs were measured under different protocols; their quality figures "
            "are not comparable. Choose one protocol above."
        )
    quality = st.radio(
        "Quality axis",
        list(result_charts.QUALITY_METRICS),
        horizontal=True,
        format_func=result_charts.label,
        key="results-quality",
    )
    reported = results_service.reported_for(services.get_catalog(), selected)
    columns = st.columns(len(TRADEOFF_AXES))
    for column, x in zip(columns, TRADEOFF_AXES):
        with column:
            st.plotly_chart(
                result_charts.tradeoff_figure(selected, x, quality, reported=reported.rows),
                width="stretch",
                key=f"tradeoff-{x}",
            )
    st.caption(
        "★ baseline · ● real kernel (packed weights: speed and size count) · ○ simulated "
        "(fake-quant: accuracy only, so it is left out of speed and peak-memory plots) · "
        "◇ simulated on the size plot: the packed size of its format, computed from the "
        "layer shapes (weights at their bits, scales, zero points), not measured · "
        "dashed: Pareto frontier · grey ticks (or a note at the edge when far off the "
        "measured scale): roofline bound (an estimate, not a measurement). Runs "
        "with a decoding option (speculative, prompt lookup, static cache) are timed "
        "against their own default generation instead: see decode speedup below."
    )
    if reported.empty:
        st.caption(
            "No reported number in the taxonomy matches these runs' model and protocol "
            "(papers report e.g. LLaMA models on WikiText-2), so none is overlaid."
        )
    for miss in reported.near_misses[:MAX_NEAR_MISSES]:
        st.caption(f"Reported, not overlaid: {plain(miss, 300)}")
    metrics = st.multiselect(
        "Relative to the baseline",
        [m for m in TABLE_METRICS if m in frame],
        default=[
            m for m in ("ppl", "stored_bytes", "decode_tok_s_b1", "decode_speedup_b1") if m in frame
        ],
        format_func=result_charts.label,
        key="results-bars",
    )
    st.plotly_chart(result_charts.relative_bars(selected, metrics), width="stretch")
    st.dataframe(_table(selected), hide_index=True, width="stretch")
    if "generate_tok_s_b1" in selected and selected["generate_tok_s_b1"].notna().any():
        st.caption(LEAN_NOTE)
    if "decode_speedup_b1" in selected and selected["decode_speedup_b1"].notna().any():
        st.caption(SIDE_BY_SIDE_NOTE)
    with st.expander("Protocol of these runs"):
        for _, run in selected.drop_duplicates("protocol_hash").iterrows():
            details = results_service.result_details(int(run["result_id"]))
            st.json(details.protocol if details else {}, expanded=False)
    _diagnostics(selected)
    model_exports.render(selected)
    buttons = st.columns(2)
    buttons[0].download_button(
        "Export CSV",
        results_export.to_csv(selected),
        "optatlas-results.csv",
        "text/csv",
        icon=":material/download:",
    )
    buttons[1].download_button(
        "Export JSON",
        results_export.to_json(selected),
        "optatlas-results.json",
        "application/json",
        icon=":material/download:",
    )
    units = {m: METRICS[m].unit for m in TABLE_METRICS if m in METRICS}
    st.caption("Units: " + ", ".join(f"{m} {u}" for m, u in units.items() if u))
