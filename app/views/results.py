"""Results: measured runs side by side. Trade-off plots with the Pareto frontier and the
baseline, bars relative to the baseline, real and simulated told apart, the roofline beside
measured speed, reported numbers where they match, per-layer diagnostics, exports, and a URL
that reopens the same selection."""

from __future__ import annotations

import json

import pandas as pd
import streamlit as st

from app import jobs_service, result_charts, services
from core.engine.metrics import METRICS, format_value

RUNS_PARAM = "runs"
JOBS_PARAM = "jobs"
TABLE_METRICS = ("ppl", "kl", "top1_agreement", "stored_bytes", "decode_tok_s_b1",
                 "decode_tok_s_b8", "decode_speedup_b1", "acceptance_rate", "output_matches",
                 "prefill_ms", "roofline_ratio", "compression_s", "peak_mem_bytes")
SIDE_BY_SIDE_NOTE = (
    "decode speedup b1 of an inference-time technique (cache, compile, speculative or "
    "prompt-lookup decoding) is against the same model's default generate(), timed beside it "
    "in the same job; its decode tokens/s is timed through generate() from the end of the "
    "first step. output matches: 1 when its tokens equal the default greedy output.")


def _ids(param: str) -> list[int]:
    raw = st.query_params.get(param, "")
    return [int(part) for part in raw.split(",") if part.strip().isdigit()]


def initial_selection(frame: pd.DataFrame) -> list[int]:
    """Result ids the URL names (runs=, or jobs= with their baselines), else every run of the
    newest result's model and protocol."""
    runs = [i for i in _ids(RUNS_PARAM) if i in set(frame["result_id"])]
    if runs:
        return runs
    jobs = _ids(JOBS_PARAM)
    picked = frame[frame["job_id"].isin(jobs)] if jobs else frame.tail(1)
    if picked.empty:
        return []
    keys = set(zip(picked["model_key"], picked["protocol_hash"]))
    # The baseline and the other runs of the same model and protocol come along: a run is
    # read against them.
    same = frame[[k in keys for k in zip(frame["model_key"], frame["protocol_hash"])]]
    return list(same["result_id"])


def _remember() -> None:
    chosen = st.session_state.get("results-choice", [])
    st.query_params[RUNS_PARAM] = ",".join(str(i) for i in chosen)
    st.query_params.pop(JOBS_PARAM, None)


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
    result = jobs_service.result_details(chosen)
    if not result or not result.diagnostics:
        note = next((n for n in (result.notes if result else []) if "diagnostics" in n), None)
        st.info(note or "This run has no per-layer diagnostics (they were switched off).")
        return
    columns = st.columns(2)
    with columns[0]:
        st.caption("Quantization error per layer: ‖Y_q − Y‖ / ‖Y‖ on calibration text")
        st.plotly_chart(result_charts.layer_error_figure(result.diagnostics),
                        use_container_width=True)
    with columns[1]:
        st.caption("Activation outliers per layer: largest input channel over the median")
        st.plotly_chart(result_charts.outlier_figure(result.diagnostics),
                        use_container_width=True)


def render() -> None:
    """The Results page."""
    from app.navigation import explore_page

    st.header("Results", anchor=False)
    frame = jobs_service.results_frame()
    if frame.empty:
        st.info("No measured runs yet. Launch a technique from its page in Explore; its result "
                "appears here next to the baseline.")
        st.page_link(explore_page(), label="Explore the techniques", icon=":material/account_tree:")
        return
    filters = st.columns(3)
    models = filters[0].multiselect("Model", sorted(frame["model"].unique()), key="results-model")
    recipes = filters[1].multiselect("Technique", sorted(frame["recipe"].unique()),
                                     key="results-recipe")
    protocols = frame.drop_duplicates("protocol_hash")
    protocol_names = {h: f"{c or 'corpus ?'} · {h[:10]}" for h, c in
                      zip(protocols["protocol_hash"], protocols["corpus"])}
    protocol = filters[2].selectbox("Protocol", ["any", *protocol_names],
                                    format_func=lambda h: protocol_names.get(h, "any"),
                                    key="results-protocol")
    pool = frame
    if models:
        pool = pool[pool["model"].isin(models)]
    if recipes:
        pool = pool[pool["recipe"].isin(recipes) | (pool["kind"] == "baseline")]
    if protocol != "any":
        pool = pool[pool["protocol_hash"] == protocol]
    labels = {int(r["result_id"]): f"{r['short']} · {r['model']} · {r['execution']}"
              for _, r in pool.iterrows()}
    if "results-choice" not in st.session_state:
        st.session_state["results-choice"] = [i for i in initial_selection(frame) if i in labels]
    chosen = st.multiselect("Runs", list(labels), format_func=labels.get, key="results-choice",
                            on_change=_remember)
    selected = frame[frame["result_id"].isin(chosen)]
    if selected.empty:
        st.info("Choose runs to compare.")
        return
    if selected["protocol_hash"].nunique() > 1:
        st.warning("These runs were measured under different protocols; their quality figures "
                   "are not comparable. Choose one protocol above.")
    quality = st.radio("Quality axis", list(result_charts.QUALITY_METRICS), horizontal=True,
                       format_func=result_charts.label, key="results-quality")
    reported = jobs_service.reported_for(services.get_catalog(), selected)
    columns = st.columns(3)
    for column, x in zip(columns, ("stored_bytes", "decode_tok_s_b1", "prefill_ms")):
        with column:
            st.plotly_chart(result_charts.tradeoff_figure(selected, x, quality, reported=reported),
                            use_container_width=True, key=f"tradeoff-{x}")
    st.caption("★ baseline · ● real kernel (packed weights: speed and size count) · ○ simulated "
               "(fake-quant: accuracy only, so it is left out of speed plots) · dashed: Pareto "
               "frontier · grey ticks: roofline bound (an estimate, not a measurement). Runs "
               "with a decoding option (speculative, prompt lookup, static cache) are timed "
               "against their own default generation instead: see decode speedup below.")
    if reported.empty:
        st.caption("No reported number in the taxonomy matches these runs' model and protocol "
                   "(papers report e.g. LLaMA models on WikiText-2), so none is overlaid.")
    metrics = st.multiselect("Relative to the baseline", [m for m in TABLE_METRICS if m in frame],
                             default=[m for m in ("ppl", "stored_bytes", "decode_tok_s_b1",
                                                  "decode_speedup_b1") if m in frame],
                             format_func=result_charts.label,
                             key="results-bars")
    st.plotly_chart(result_charts.relative_bars(selected, metrics), use_container_width=True)
    st.dataframe(_table(selected), hide_index=True, use_container_width=True)
    if "decode_speedup_b1" in selected and selected["decode_speedup_b1"].notna().any():
        st.caption(SIDE_BY_SIDE_NOTE)
    with st.expander("Protocol of these runs"):
        for _, run in selected.drop_duplicates("protocol_hash").iterrows():
            details = jobs_service.result_details(int(run["result_id"]))
            st.json(details.protocol if details else {}, expanded=False)
    _diagnostics(selected)
    export = selected.drop(columns=["created_at"], errors="ignore")
    buttons = st.columns(2)
    buttons[0].download_button("Export CSV", export.to_csv(index=False), "optatlas-results.csv",
                               "text/csv", icon=":material/download:")
    records = json.loads(export.to_json(orient="records"))
    buttons[1].download_button("Export JSON", json.dumps(records, indent=2),
                               "optatlas-results.json", "application/json",
                               icon=":material/download:")
    units = {m: METRICS[m].unit for m in TABLE_METRICS if m in METRICS}
    st.caption("Units: " + ", ".join(f"{m} {u}" for m, u in units.items() if u))
