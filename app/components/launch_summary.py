"""What the Launch page says once the form is valid: the submit-time check's findings, the
estimate with its parts and basis, the wait in the queue, and an identical job already
queued. Each returns whether Launch may be pressed."""

from __future__ import annotations

import streamlit as st

from app import jobs_service, page_ids
from core.jobs.estimate import format_seconds
from core.jobs.preflight import Preflight

DUPLICATE_KEY = "launch-duplicate"
# Phases too short to name in the estimate's breakdown.
MINOR_SHARE = 0.05


def show_check(preflight: Preflight) -> bool:
    """Problems (Launch off), what could not be checked, and what was."""
    if preflight.problems:
        st.error("This job cannot run as set:\n\n" + "\n".join(
            f"- {problem}" for problem in preflight.problems), icon=":material/error:")
    for note in preflight.unchecked:
        st.warning(f"Not checked: {note}", icon=":material/help:")
    if preflight.checked:
        st.caption("Checked: " + "; ".join(preflight.checked) + ".")
    return preflight.ok


def _memory(size: int) -> str:
    return f"about {size / 2**30:.1f} GiB" if size >= 2**30 \
        else f"about {max(1, round(size / 2**20))} MiB"


def show_estimate(checked: jobs_service.CheckedJob) -> None:
    """The estimate: its total, its main parts, memory, the queue ahead, and its basis."""
    guess = jobs_service.estimate(checked)
    parts = []
    if guess.seconds is not None:
        parts.append(f"about {format_seconds(guess.seconds)}")
    if guess.memory_bytes is not None:
        parts.append(f"{_memory(guess.memory_bytes)} of memory")
    text = f"Estimate: {', '.join(parts) or 'unknown'}"
    if guess.seconds and guess.plan is not None:
        major = [p for p in guess.plan.phases if p.seconds >= MINOR_SHARE * guess.seconds]
        text += " (" + "; ".join(f"{p.label} {format_seconds(p.seconds)}" for p in major) + ")"
        if any(p.key.startswith("baseline") for p in guess.plan.phases):
            text += (". This is the first job on this model and protocol here, so it also "
                     "measures the baseline, once; later jobs reuse it")
    place = jobs_service.queue_place(checked.device)
    if place.ahead or place.running:
        wait = f", about {format_seconds(place.wait_s)}" if place.wait_s is not None else ""
        text += (f". Queue on {checked.device}: {place.running} running and {place.ahead} "
                 f"waiting before it{wait}")
    st.info(f"{text}. Basis: {guess.basis}.", icon=":material/schedule:")


def show_twin(checked: jobs_service.CheckedJob) -> bool:
    """An identical job already queued or running: link to it; Launch only on request."""
    twin = jobs_service.active_twin(checked)
    if twin is None:
        return True
    st.info(f"Job #{twin.id} does exactly this and is {twin.status}: its result will be the "
            "same.", icon=":material/content_copy:")
    st.page_link(page_ids.JOBS.script, label=f"Follow job {twin.id}", icon=":material/monitoring:",
                 query_params={"job": str(twin.id)})
    return st.toggle("Queue another identical job anyway", key=DUPLICATE_KEY)
