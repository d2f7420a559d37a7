"""What the Launch page says once the form is valid: the submit-time check's findings, the
estimate with its parts and basis, the wait in the queue, and an identical run that
answers the job. Each returns whether Launch may be pressed."""

from __future__ import annotations

import streamlit as st

from app import jobs_service, page_ids
from core.jobs.estimate import format_seconds
from core.jobs.preflight import Preflight

DUPLICATE_KEY = "launch-duplicate"
MEASURE_AGAIN_KEY = "launch-measure-again"
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


def show_twin(checked: jobs_service.CheckedJob) -> tuple[bool, bool]:
    """An identical run, finished or active: the launch is answered from it (or attaches to
    it) unless "measure again" is on. Returns (Launch may be pressed, measure again)."""
    found = jobs_service.twin(checked)
    if found is not None:
        if found.finished:
            st.info(f"Job #{found.job_id} measured exactly this (same model weights, steps and "
                    "settings, protocol, device and library versions): Launch answers at once "
                    f"from its result, marked \"reused from job {found.job_id}\".",
                    icon=":material/content_copy:")
        else:
            st.info(f"Job #{found.job_id} does exactly this and is {found.status}: your job "
                    "attaches to it and finishes with it, one computation for both.",
                    icon=":material/content_copy:")
        st.page_link(page_ids.JOBS.script, label=f"Follow job {found.job_id}",
                     icon=":material/monitoring:", query_params={"job": str(found.job_id)})
        fresh = st.toggle("Measure again (a fresh timing: queues a run of its own)",
                          key=MEASURE_AGAIN_KEY)
        return True, fresh
    # A model its name does not pin down (a local folder, a Hub id without a revision) is
    # never answered from another run; an identical job in the queue is still worth a word.
    twin = jobs_service.active_twin(checked)
    if twin is None:
        return True, False
    st.info(f"Job #{twin.id} does exactly this and is {twin.status}: its result will be the "
            "same.", icon=":material/content_copy:")
    st.page_link(page_ids.JOBS.script, label=f"Follow job {twin.id}", icon=":material/monitoring:",
                 query_params={"job": str(twin.id)})
    return st.toggle("Queue another identical job anyway", key=DUPLICATE_KEY), False
