"""The Labs page's one door to content and runs: the lab files, a lab's prepared run
launched as a job, and its result read beside the gallery's runs it names."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import streamlit as st

from app import jobs_service, results_service, workshop
from core.engine.metrics import format_value
from core.labs.content import Lab, PreparedRun, load_labs


@st.cache_resource(show_spinner=False)
def labs() -> tuple[Lab, ...]:
    """Every lab, in order (the files are read once per server)."""
    return tuple(load_labs())


def lab(slug: str | None) -> Lab | None:
    return next((each for each in labs() if each.slug == slug), None)


def launch(run: PreparedRun) -> jobs_service.Submitted:
    """Queue a lab's prepared run for this visitor (or answer it from an identical one);
    InvalidJobError saying why not."""
    return jobs_service.launch({**run.spec(), "device": "auto"}, workshop.session_owner())


@dataclass(frozen=True)
class LabResult:
    """A finished lab run against its baseline, in the lab's metric."""

    value: float | None
    baseline: float | None
    line: str  # "perplexity 17.7 → 19.2 (+8.5 %)"
    result_id: int | None
    diagnostics: list | None


def _change(metric: str, value: float | None, baseline: float | None) -> str:
    shown = format_value(metric, value)
    if value is None or not baseline:
        return shown
    return f"{format_value(metric, baseline)} → {shown} ({(value / baseline - 1) * 100:+.1f} %)"


def result(lab_run: Lab, job_id: int) -> LabResult | None:
    """The lab's run `job_id` against its baseline, or None until it has a result."""
    frame = results_service.results_frame(job_ids=[job_id])
    runs = frame[frame["job_id"] == job_id] if not frame.empty else frame
    if runs.empty:
        return None
    run = runs.iloc[-1]
    base = results_service.baseline_of(frame, run)
    metric = lab_run.metric
    value = results_service.value_of(run, metric)
    reference = results_service.value_of(base, metric) if base is not None else None
    details = results_service.result_details(int(run["result_id"]))
    return LabResult(value, reference, _change(metric, value, reference),
                     int(run["result_id"]), details.diagnostics if details else None)


def gallery_table(lab_run: Lab) -> pd.DataFrame:
    """The gallery runs the lab compares, in its order, with the lab's metric against the
    gallery's baseline; runs the gallery does not hold yet are left out."""
    frame = results_service.results_frame(gallery_only=True)
    rows = []
    if frame.empty:
        return pd.DataFrame(rows)
    metric = lab_run.metric
    for name in lab_run.compare:
        found = frame[frame["gallery_run"] == name]
        if found.empty:
            continue
        run = found.iloc[-1]
        base = results_service.baseline_of(frame, run)
        value = results_service.value_of(run, metric)
        reference = results_service.value_of(base, metric) if base is not None else None
        rows.append({"gallery run": name, "execution": run["execution"],
                     metric: _change(metric, value, reference),
                     "KL (nats/token)": format_value("kl", results_service.value_of(run, "kl")),
                     "measured": run["measured_how"].removeprefix("gallery: ")})
    return pd.DataFrame(rows)
