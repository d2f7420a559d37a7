"""The Results page's "Models for serving" section: a run's model written as GGUF
(llama.cpp), compressed-tensors (vLLM) or safetensors by an export job, and each export's
read-back check (its format's own reader, perplexity against the job's)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app import jobs_service, page_ids, workshop
from core.export.formats import FORMAT_HELP, FORMATS, describe
from core.jobs.spec import InvalidJobError


def _exportable(selected: pd.DataFrame) -> dict[int, str]:
    runs = selected[(selected["kind"] != "baseline") & selected["job_id"].notna()]
    return {int(r["job_id"]): f"job {int(r['job_id'])} · {r['short']}" for _, r in runs.iterrows()}


def render(selected: pd.DataFrame) -> None:
    """Exports of one selected run's model, and a button to write another."""
    runs = _exportable(selected)
    if not runs:
        return
    st.subheader("Models for serving", anchor=False)
    st.caption("An export job rebuilds the run's model, writes it in a serving format, reads "
               "it back with that format's own reader and scores it on the run's protocol: "
               "the figure below says the file holds the model that was measured.")
    job_id = st.selectbox("Run", list(runs), format_func=runs.get, key="results-export-run")
    exports = jobs_service.artifacts(job_id)
    for artifact in exports:
        check = (artifact.details or {}).get("readback") or {}
        line = describe(artifact.format, artifact.bytes, artifact.details or {})
        icon = ":material/check_circle:" if check.get("within_tolerance", True) else \
            ":material/warning:"
        st.markdown(f"{icon} {line}  \n`{artifact.path}`", unsafe_allow_html=False)
    if not exports:
        st.caption("No export of this run yet.")
    columns = st.columns([2, 1], vertical_alignment="bottom")
    fmt = columns[0].selectbox("Format", FORMATS, key="results-export-format",
                               format_func=lambda f: f"{f}: {FORMAT_HELP[f]}")
    if columns[1].button("Export the model", icon=":material/output:",
                         key="results-export-button"):
        try:
            export_id = jobs_service.export_model(job_id, fmt, workshop.session_owner())
        except InvalidJobError as error:
            st.error(f"Not exported: {error}")
        else:
            st.success(f"Export job {export_id} queued: it appears here when it has read "
                       "the file back.")
            st.page_link(page_ids.JOBS.script, label="Follow it on Jobs",
                         icon=":material/list:")
