"""Jobs: every job with its live progress, refreshed by a fragment (every 1.5 s for one
visitor, less often as more pages follow live jobs), with its log's tail and cancel / retry.
Reads the database only, so a restarted server picks up jobs that kept running in their
workers."""

from __future__ import annotations

from datetime import UTC, datetime

import streamlit as st

from app import jobs_service, page_ids, results_service, workshop
from app.markdown_text import plain
from core.export.formats import describe
from core.jobs import states
from core.jobs.estimate import format_seconds
from core.jobs.spec import InvalidJobError
from core.jobs.store import JobStateError

REFRESH_S = 1.5
QUIET_REFRESH_S = 15.0
# The refreshes per second all live Jobs pages of the server share: thirty attendees waiting
# on their jobs then see them every 15 s, rather than keeping a two-core server and their
# browsers busy redrawing unchanged cards 20 times a second.
ROOM_REFRESHES_PER_S = 2.0
LIVE_REFRESH_TIERS_S = (REFRESH_S, 3.0, 6.0, 10.0, 15.0)
EVERYONE_LIMIT = 40
STATUS_BADGES = {
    states.QUEUED: ":gray-badge[queued]",
    states.RUNNING: ":blue-badge[running]",
    states.SUCCEEDED: ":green-badge[succeeded]",
    states.FAILED: ":red-badge[failed]",
    states.CANCELLED: ":orange-badge[cancelled]",
    states.INTERRUPTED: ":violet-badge[interrupted]",
}


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def elapsed(job, now: datetime | None = None) -> str:
    """How long the job ran (or has been running, or waiting), as a person reads it."""
    now = now or datetime.now(UTC)
    if job.started_at is None:
        if job.status == states.QUEUED and job.created_at is not None:
            waited = max(0.0, (now - _utc(job.created_at)).total_seconds())
            return f"waiting {format_seconds(waited)}"
        return "not started"
    end = _utc(job.finished_at) if job.finished_at else now
    return format_seconds(max(0.0, (end - _utc(job.started_at)).total_seconds()))


def _queued_line(job) -> str:
    if job.reused_from is not None:
        leader = jobs_service.job(job.reused_from)
        if leader is not None and leader.status in states.ACTIVE:
            return (f"Attached to job #{leader.id}, which does exactly this and is "
                    f"{leader.status}: it finishes with it (one computation for both).")
    place = jobs_service.queue_place(job.device, before=job.id)
    if not place.ahead and not place.running:
        return f"Next on {job.device}: it starts when a worker for {job.device} is free."
    wait = f"; starts in about {format_seconds(place.wait_s)}" if place.wait_s is not None else ""
    return (f"In the queue for {job.device}: {place.ahead} waiting before it, "
            f"{place.running} running{wait}.")


def _progress(job) -> None:
    if job.status == states.QUEUED:
        st.progress(0.0, text=_queued_line(job))
        return
    text = job.progress_stage + (f": {job.progress_message}" if job.progress_message else "")
    planned = (job.timings or {}).get("planned_total_s")
    fraction = min(1.0, max(0.0, job.progress_fraction))
    if planned:
        text += f" · about {format_seconds(planned * (1 - fraction))} left"
    st.progress(fraction, text=f"{fraction:.0%} · {text or job.status}")


def _actions(job) -> None:
    columns = st.columns([1, 1.4, 3])
    owner, teacher = workshop.session_owner(), workshop.is_teacher()
    buttons = ((columns[0], states.ACTIVE, "Cancel", ":material/stop:", jobs_service.cancel),
               (columns[1], states.RETRYABLE, "Retry", ":material/replay:", jobs_service.retry))
    mine = jobs_service.may_change(job, owner, teacher)
    for column, statuses, label, icon, action in buttons:
        if mine and job.status in statuses and column.button(
                label, key=f"{label.lower()}-{job.id}", icon=icon):
            try:
                action(job.id, owner, teacher)
            except JobStateError as error:  # another tab or worker moved it first
                st.toast(str(error))
    if job.status == states.SUCCEEDED and job.reused_from is not None \
            and job.owner_session == owner and columns[1].button(
                "Measure again", key=f"again-{job.id}", icon=":material/timer:",
                help="Queue a run of its own, for a fresh timing"):
        try:
            again = jobs_service.measure_again(job.id, owner)
        except (InvalidJobError, JobStateError) as error:
            st.toast(str(error))
        else:
            st.toast(f"Job {again.job_id} queued: measured afresh.")
    if job.status == states.SUCCEEDED:
        with columns[2]:
            st.page_link(page_ids.RESULTS.script, label="See it on the Results page",
                         icon=":material/scatter_plot:", query_params={"jobs": str(job.id)})


def _job_card(job, focused: bool, headline: str | None, by: str | None = None) -> None:
    with st.container(border=True):
        owner = f" · by {plain(by, 40)}" if by else ""
        st.markdown(f"**#{job.id} {plain(job.label, 120)}** "
                    f"{STATUS_BADGES.get(job.status, job.status)} · {plain(job.model_ref, 80)} "
                    f"on {plain(job.device)} · attempt {job.attempt} · {elapsed(job)}{owner}")
        if job.status == states.SUCCEEDED and job.reused_from is not None:
            st.caption(f":material/content_copy: Reused from job #{job.reused_from}: an "
                       "identical run (same model weights, settings, protocol, device and "
                       "libraries) measured it; not computed again.")
        if job.status in states.ACTIVE:
            _progress(job)
            if job.cancel_requested:
                st.caption("Cancelling: it stops at the next step boundary.")
        if headline:
            st.markdown(f":material/insights: {plain(headline)}")
        if job.error_message and job.status != states.SUCCEEDED:
            kind = job.error_kind or job.status
            # "interrupted during ..." already names its kind; others get it as a prefix.
            message = job.error_message if job.error_message.startswith(kind) \
                else f"{kind.replace('_', ' ')}: {job.error_message}"
            # Messages quote what the user typed: shown as text, never as Markdown.
            st.error(plain(message, 1500))
            advice = jobs_service.advice(job.error_kind)
            if advice:
                st.caption(f"What to do: {advice}")
        if job.log_tail:
            with st.expander("Log", expanded=focused and job.status in states.ACTIVE):
                st.code(job.log_tail, language=None)
        _actions(job)


def live_refresh_s(watchers: int) -> float:
    """The live list's refresh period when `watchers` owners have jobs queued or running:
    the shortest tier that keeps the server's live pages within ROOM_REFRESHES_PER_S."""
    wanted = max(1, watchers) / ROOM_REFRESHES_PER_S
    return next((tier for tier in LIVE_REFRESH_TIERS_S if tier >= wanted),
                LIVE_REFRESH_TIERS_S[-1])


def _refresh_s() -> float:
    return live_refresh_s(jobs_service.active_owners()) if _anything_active() \
        else QUIET_REFRESH_S


def _job_list(refresh_s: float) -> None:
    """The list; drawn by a fragment that reruns every `refresh_s` seconds: a live tier while
    a listed job is queued or running, QUIET_REFRESH_S otherwise. A room of thirty Jobs
    pages then costs the server and the browsers little; when the period the list needs
    changes, the page reruns to switch fragments."""
    if _refresh_s() != refresh_s:
        st.rerun()
    jobs, names = _whose()
    if not jobs and workshop.room() is None:
        st.info("No jobs yet. Open a technique in Explore and press **Run this technique**.")
        st.page_link(page_ids.EXPLORE.script, label="Explore the techniques",
                     icon=":material/account_tree:")
        return
    if not jobs:
        st.info("You have no jobs yet: launch one from a technique's page, or show "
                "everyone's.")
        return
    counts = {status: sum(1 for j in jobs if j.status == status) for status in states.STATUSES}
    st.caption(" · ".join(f"{n} {status}" for status, n in counts.items() if n))
    focus = st.query_params.get("job")
    if focus and focus.isdigit():
        # Results opens on the job the user followed last.
        st.session_state["followed_job"] = int(focus)
    ordered = sorted(jobs, key=lambda j: (str(j.id) != focus, -j.id))
    succeeded = [j.id for j in jobs if j.status == states.SUCCEEDED]
    frame = results_service.results_frame(job_ids=succeeded) if succeeded else None
    for job in ordered:
        headline = (
            results_service.headline(frame, job.id)
            if frame is not None and job.status == states.SUCCEEDED
            else None
        )
        if job.export and job.status == states.SUCCEEDED:
            headline = _export_headline(job)
        _job_card(job, focused=str(job.id) == focus, headline=headline,
                  by=names.get(job.owner_session or ""))


def _whose() -> tuple[list, dict[str, str]]:
    """In a workshop room: the attendee's own jobs, or everyone's (read-only) when asked,
    and the display names of their owners; outside one, every job."""
    if workshop.room() is None:
        return jobs_service.jobs(), {}
    choice = st.radio("Show", ["mine", "everyone"], horizontal=True, key="jobs-whose",
                      format_func={"mine": "my jobs", "everyone": "everyone's"}.get)
    # Everyone's: the newest EVERYONE_LIMIT (a room's day is a thousand jobs).
    jobs = jobs_service.jobs(owner=workshop.session_owner()) if choice == "mine" \
        else jobs_service.jobs(limit=EVERYONE_LIMIT)
    if choice != "mine" and len(jobs) == EVERYONE_LIMIT:
        st.caption(f"The room's {EVERYONE_LIMIT} newest jobs.")
    return jobs, jobs_service.owner_names({job.owner_session for job in jobs})


def _export_headline(job) -> str | None:
    """An export job's file and read-back figure (its artifact belongs to the job exported)."""
    of_job, fmt = job.export["of_job"], job.export["format"]
    found = [a for a in jobs_service.artifacts(of_job) if a.format == fmt]
    if not found:
        return None
    artifact = found[0]
    return describe(artifact.format, artifact.bytes, artifact.details or {})


def render() -> None:
    """The Jobs page."""
    st.header("Jobs", anchor=False)
    if not any(d.workers for d in jobs_service.devices()):
        st.warning(
            "No worker is running: queued jobs wait until one starts (`optatlas serve` "
            "starts them; or run `optatlas executor`).",
            icon=":material/warning:",
        )
    job_list()


def _anything_active() -> bool:
    # What the list would show: the attendee's own jobs in a room (unless everyone's are
    # asked for), every job outside one.
    mine = workshop.room() is not None and st.session_state.get("jobs-whose", "mine") == "mine"
    return jobs_service.has_active(workshop.session_owner() if mine else None)


def _list_refreshed_every(period_s: float):
    def job_list_fragment() -> None:
        _job_list(period_s)

    # Streamlit knows a fragment by its function's qualified name: one name per period,
    # so that switching periods starts a new timer rather than keeping the old one.
    job_list_fragment.__qualname__ = f"job_list_every_{period_s:g}s"
    return st.fragment(job_list_fragment, run_every=period_s)


# One fragment per period, made once.
_FRAGMENTS = {period: _list_refreshed_every(period)
              for period in (*LIVE_REFRESH_TIERS_S, QUIET_REFRESH_S)}


def job_list() -> None:
    """The list: refreshed often while something it shows is active (less often the more
    pages in the room follow live jobs), rarely otherwise."""
    _FRAGMENTS[_refresh_s()]()
