"""The teacher's page of a workshop room, behind the teacher's passcode: the queue with its
owners (cancel any job), pause and resume launching, a banner to the room, class progress,
everyone's results as CSV, and a reset that archives the room's jobs (results stay)."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import streamlit as st

from app import jobs_service, room_service, workshop
from core.jobs.room import MAX_BANNER_CHARS
from core.jobs.store import JobStateError

REFRESH_S = 3.0
CANCEL_CHOICE = "teacher-cancel-choice"
RESET_SURE = "teacher-reset-sure"
RESET_DONE = "teacher-reset-done"


def _sign_in() -> None:
    st.caption("This page is the teacher's. Type the teacher passcode (the one hashed into "
               "the room's file) to open it.")
    with st.form("teacher-sign-in"):
        passcode = st.text_input("Teacher passcode", type="password")
        opened = st.form_submit_button("Open", icon=":material/lock_open:")
    if opened:
        if workshop.sign_in_teacher(passcode):
            st.rerun()
        st.error("That is not the teacher passcode.", icon=":material/lock:")


def _launching() -> None:
    paused = room_service.state().launching_paused
    columns = st.columns([3, 1])
    if paused:
        columns[0].warning("Launching is paused: attendees cannot queue new jobs; queued "
                           "ones still run.", icon=":material/pause_circle:")
        if columns[1].button("Resume launching", icon=":material/play_arrow:",
                             key="teacher-resume"):
            room_service.set_launching_paused(False)
            st.rerun()
    else:
        columns[0].success("Launching is open.", icon=":material/play_circle:")
        if columns[1].button("Pause launching", icon=":material/pause:", key="teacher-pause"):
            room_service.set_launching_paused(True)
            st.rerun()


def _banner() -> None:
    current = room_service.state().banner
    with st.form("teacher-banner"):
        text = st.text_area("Banner to the room (shown on every page; empty: none)",
                            value=current, max_chars=MAX_BANNER_CHARS, height=80)
        shown = st.form_submit_button("Show to the room", icon=":material/campaign:")
    if shown:
        try:
            room_service.set_banner(text)
        except ValueError as error:
            st.error(str(error))
        else:
            st.toast("Banner cleared." if not text.strip() else "Banner shown to the room.")
            st.rerun()


@st.fragment(run_every=REFRESH_S)
def _queue() -> None:
    st.subheader("Queue", anchor=False)
    rows = room_service.queue()
    if not rows:
        st.caption("Nothing is queued or running.")
        return
    st.dataframe(pd.DataFrame([{"job": r.job_id, "attendee": r.owner, "what": r.label,
                                "model": r.model, "device": r.device, "place": r.place}
                               for r in rows]), hide_index=True, width="stretch")
    labels = {r.job_id: f"#{r.job_id} {r.label} · {r.owner}" for r in rows}
    chosen = st.multiselect("Jobs to cancel", list(labels), format_func=labels.get,
                            key=CANCEL_CHOICE)
    st.button("Cancel these jobs", disabled=not chosen, icon=":material/stop:",
              key="teacher-cancel", on_click=_cancel_chosen)


def _cancel_chosen() -> None:
    # A callback: it runs before the rerun draws the queue, so the list shows the result
    # and the choice can be emptied.
    for job_id in st.session_state.get(CANCEL_CHOICE) or []:
        try:
            jobs_service.cancel(job_id, teacher=True)
        except JobStateError as error:  # it finished meanwhile
            st.toast(str(error))
    st.session_state[CANCEL_CHOICE] = []


def _progress() -> None:
    st.subheader("Class progress", anchor=False)
    rows = room_service.progress()
    if not rows:
        st.caption("Nobody has joined yet.")
        return
    st.dataframe(pd.DataFrame([{"attendee": r.name, "jobs": r.jobs, "succeeded": r.succeeded,
                                "failed": r.failed, "queued or running": r.active,
                                "ran": ", ".join(r.techniques)} for r in rows]),
                 hide_index=True, width="stretch")
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M")
    st.download_button("Everyone's results (CSV)", data=room_service.results_csv,
                       file_name=f"optatlas-room-results-{stamp}.csv", mime="text/csv",
                       icon=":material/download:", on_click="ignore")


def _reset() -> None:
    with st.expander("Reset the room"):
        st.write("Cancels what is queued, asks running jobs to stop, and archives every job: "
                 "Jobs and class progress start empty. Results stay in the database (they "
                 "still answer identical runs, and the CSV keeps them). Seats stay valid.")
        sure = st.checkbox("Yes, reset the room", key=RESET_SURE)
        st.button("Reset the room", disabled=not sure, type="primary",
                  icon=":material/restart_alt:", key="teacher-reset", on_click=_reset_now)
        done = st.session_state.pop(RESET_DONE, None)
        if done is not None:
            st.success(f"Room reset: {done.archived} job(s) archived, {done.cancelled} "
                       "queued job(s) cancelled.")


def _reset_now() -> None:
    st.session_state[RESET_DONE] = room_service.reset()
    st.session_state[RESET_SURE] = False


def render() -> None:
    """The Teacher page."""
    st.header("Teacher", anchor=False)
    if workshop.room() is None:
        st.info("This server runs no workshop room (start it with `optatlas serve "
                "--workshop FILE`).")
        return
    if not workshop.is_teacher():
        _sign_in()
        return
    if st.sidebar.button("Leave the teacher's page", icon=":material/logout:"):
        workshop.sign_out_teacher()
        st.rerun()
    _launching()
    _banner()
    _queue()
    _progress()
    _reset()
