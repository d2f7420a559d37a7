"""Jobs: every job with its live progress, refreshed every 1.5 s by a fragment, with its
log's tail and cancel / retry. Reads the database only, so a restarted server picks up jobs
that kept running in their workers."""

from __future__ import annotations

from datetime import UTC, datetime

import streamlit as st

from app import jobs_service
from core.jobs import states
from core.jobs.store import JobStateError

REFRESH_S = 1.5
STATUS_BADGES = {
    states.QUEUED: ":gray-badge[queued]",
    states.RUNNING: ":blue-badge[running]",
    states.SUCCEEDED: ":green-badge[succeeded]",
    states.FAILED: ":red-badge[failed]",
    states.CANCELLED: ":orange-badge[cancelled]",
    states.INTERRUPTED: ":violet-badge[interrupted]",
}


def elapsed(job, now: datetime | None = None) -> str:
    """How long the job ran (or has been running), as a person reads it."""
    if job.started_at is None:
        return "not started"
    start = job.started_at if job.started_at.tzinfo else job.started_at.replace(tzinfo=UTC)
    end = job.finished_at or now or datetime.now(UTC)
    end = end if end.tzinfo else end.replace(tzinfo=UTC)
    seconds = max(0.0, (end - start).total_seconds())
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def _actions(job) -> None:
    from app.navigation import results_page

    columns = st.columns([1, 1, 3])
    if job.status in states.ACTIVE:
        if columns[0].button("Cancel", key=f"cancel-{job.id}", icon=":material/stop:"):
            try:
                jobs_service.cancel(job.id)
            except JobStateError as error:
                st.toast(str(error))
    if job.status in states.RETRYABLE:
        if columns[1].button("Retry", key=f"retry-{job.id}", icon=":material/replay:"):
            try:
                jobs_service.retry(job.id)
            except JobStateError as error:
                st.toast(str(error))
    if job.status == states.SUCCEEDED:
        with columns[2]:
            st.page_link(results_page(), label="See it on the Results page",
                         icon=":material/scatter_plot:", query_params={"jobs": str(job.id)})


def _job_card(job, focused: bool) -> None:
    with st.container(border=True):
        st.markdown(f"**#{job.id} {job.label}** {STATUS_BADGES.get(job.status, job.status)} · "
                    f"`{job.model_ref}` on `{job.device}` · attempt {job.attempt} · "
                    f"{elapsed(job)}")
        if job.status in states.ACTIVE:
            text = job.progress_stage + (f": {job.progress_message}" if job.progress_message
                                         else "")
            st.progress(min(1.0, max(0.0, job.progress_fraction)), text=text or job.status)
            if job.cancel_requested:
                st.caption("Cancelling: it stops at the next step boundary.")
        if job.error_message and job.status != states.SUCCEEDED:
            kind = job.error_kind or job.status
            # "interrupted during ..." already names its kind; others get it as a prefix.
            message = job.error_message if job.error_message.startswith(kind) \
                else f"{kind.replace('_', ' ')}: {job.error_message}"
            st.error(message)
            advice = jobs_service.advice(job.error_kind)
            if advice:
                st.caption(f"What to do: {advice}")
        if job.log_tail:
            with st.expander("Log", expanded=focused and job.status in states.ACTIVE):
                st.code(job.log_tail, language=None)
        _actions(job)


@st.fragment(run_every=REFRESH_S)
def job_list() -> None:
    """The live list (reruns on its own every REFRESH_S seconds)."""
    from app.navigation import explore_page

    jobs = jobs_service.jobs()
    if not jobs:
        st.info("No jobs yet. Open a technique in Explore and press **Run this technique**.")
        st.page_link(explore_page(), label="Explore the techniques", icon=":material/account_tree:")
        return
    counts = {status: sum(1 for j in jobs if j.status == status) for status in states.STATUSES}
    st.caption(" · ".join(f"{n} {status}" for status, n in counts.items() if n))
    focus = st.query_params.get("job")
    ordered = sorted(jobs, key=lambda j: (str(j.id) != focus, -j.id))
    for job in ordered:
        _job_card(job, focused=str(job.id) == focus)


def render() -> None:
    """The Jobs page."""
    st.header("Jobs", anchor=False)
    if not any(d.workers for d in jobs_service.devices()):
        st.warning("No worker is running: queued jobs wait until one starts (`optatlas serve` "
                   "starts them; or run `optatlas executor`).", icon=":material/warning:")
    job_list()
