"""Workshop mode in the app: the room (from the file `optatlas serve --workshop` names), the
attendee this browser is (from the seat token in the URL, kept in the session as pages
change), and the join form that seats a new one. Without a room the app is single-user, as
it always was. Torch-free."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import streamlit as st

from app import services
from app.markdown_text import plain
from core.jobs.room import room_now
from core.jobs.seats import MAX_NAME_CHARS, Attendee, JoinError, attendee_for, join
from core.workshop.config import WorkshopConfig, WorkshopConfigError, load_workshop
from core.workshop.passcodes import check_passcode
from db.engine import database_url

ENV = "OPTATLAS_WORKSHOP"
SEAT_PARAM = "seat"
TOKEN_KEY = "workshop-seat-token"
# Set once the teacher typed their passcode in this browser session (never in the URL:
# a shared link must not make its reader the teacher).
TEACHER_KEY = "workshop-teacher"
_CACHE: dict = {"key": None, "room": None}


def _engine():
    # The server's shared engine (as app.jobs_service uses: that module builds on this one).
    return services.get_engine(database_url())


def room() -> WorkshopConfig | None:
    """The room this server carries, or None (single-user). Re-read when the file changes;
    a file broken while serving keeps the room as it last loaded."""
    path = os.environ.get(ENV)
    if not path:
        return None
    try:
        key = (path, Path(path).stat().st_mtime)
    except OSError:
        return _CACHE["room"]
    if key != _CACHE["key"]:
        if _CACHE["key"] is None or _CACHE["key"][0] != path:
            _CACHE["room"] = None  # another file: nothing of the last one carries over
        try:
            _CACHE["room"] = load_workshop(path)
        except WorkshopConfigError:
            pass
        _CACHE["key"] = key
    return _CACHE["room"]


def current() -> Attendee | None:
    """The attendee of this browser session, or None (not seated, or no room)."""
    if room() is None:
        return None
    token = st.session_state.get(TOKEN_KEY) or st.query_params.get(SEAT_PARAM)
    attendee = attendee_for(_engine(), token)
    if attendee is not None:
        st.session_state[TOKEN_KEY] = token
    return attendee


def keep_seat_in_url(page=None) -> None:
    """Put the seat token in the page's address, so a reload (or a bookmark) seats the
    attendee again. Called after st.navigation (with the page it chose), which rewrites the
    address on a page change: a page without the token is switched to itself with it."""
    token = st.session_state.get(TOKEN_KEY)
    if room() is None or not token or st.query_params.get(SEAT_PARAM) == token:
        return
    if page is not None:
        st.switch_page(page, query_params={**st.query_params.to_dict(), SEAT_PARAM: token})
    st.query_params[SEAT_PARAM] = token


def session_owner() -> str:
    """Who this session's jobs belong to: the attendee in a workshop room, else a stable id
    of this browser session (jobs remember who launched them)."""
    attendee = current()
    if attendee is not None:
        return attendee.owner
    if "session_id" not in st.session_state:
        st.session_state["session_id"] = uuid.uuid4().hex
    return st.session_state["session_id"]


def gate() -> bool:
    """True when the page may render: no room, or a seated attendee. Otherwise it shows the
    join form and returns False."""
    the_room = room()
    if the_room is None:
        return True
    attendee = current()
    if attendee is not None:
        # Names are whatever attendees typed: shown as text, never as Markdown.
        st.sidebar.caption(f":material/person: {plain(attendee.name, MAX_NAME_CHARS)}")
        st.sidebar.caption("Keep this page's address: it is your seat.")
        return True
    st.header("Join the workshop", anchor=False)
    if _single_sign_on(the_room):
        return False
    with st.form("workshop-join"):
        name = st.text_input("Your name (the room sees it beside your jobs)", max_chars=40)
        passcode = st.text_input("Room passcode", type="password") \
            if the_room.room_passcode else ""
        joined = st.form_submit_button("Join", icon=":material/login:")
    if joined:
        try:
            _, token = join(_engine(), the_room, name, passcode)
        except JoinError as error:
            st.error(str(error))
        else:
            st.session_state[TOKEN_KEY] = token
            st.query_params[SEAT_PARAM] = token
            st.rerun()
    return False


def is_teacher() -> bool:
    """Whether this browser session signed in with the teacher's passcode (in a room)."""
    return room() is not None and bool(st.session_state.get(TEACHER_KEY))


def sign_in_teacher(passcode: str) -> bool:
    """Check the teacher's passcode against the room file's hash; True when it matches."""
    the_room = room()
    if the_room is None or not check_passcode(passcode or "", the_room.teacher_passcode_hash):
        return False
    st.session_state[TEACHER_KEY] = True
    return True


def sign_out_teacher() -> None:
    st.session_state.pop(TEACHER_KEY, None)


def show_banner() -> None:
    """The teacher's message to the room, on every page (as typed: text, not Markdown)."""
    if room() is None:
        return
    banner = room_now(_engine()).banner
    if banner:
        st.info(plain(banner, 500), icon=":material/campaign:")


def _sign_on_configured() -> bool:
    # st.login needs an [auth] section in .streamlit/secrets.toml; reading st.secrets
    # without a secrets file raises, which here only means "not configured".
    try:
        return "auth" in st.secrets
    except Exception:  # noqa: BLE001 - no secrets file, or one that does not parse
        return False


def _single_sign_on(the_room: WorkshopConfig) -> bool:
    """With single sign-on configured: a "Sign in" button, and for a signed-in account its
    seat (the room passcode is still asked when the room has one). True when it seated
    the attendee (the page reruns)."""
    if not _sign_on_configured():
        return False
    user = st.user
    if not user.is_logged_in:
        st.button("Sign in", icon=":material/badge:", on_click=st.login,
                  help="with your organisation's account (single sign-on)")
        st.caption("Or join with a display name below.")
        return False
    from core.jobs.seats import account_token, seat_account

    subject = str(user.get("sub") or user.get("email") or "")
    if not subject:
        st.error("Your sign-in gave no account id: join with a display name below.")
        return False
    token = account_token(str(st.secrets["auth"]["cookie_secret"]), subject)
    if attendee_for(_engine(), token) is None:  # a first visit: the room may want its passcode
        passcode = st.text_input("Room passcode", type="password", key="sso-passcode") \
            if the_room.room_passcode else ""
        if the_room.room_passcode and not passcode:
            return False
        try:
            seat_account(_engine(), the_room, str(user.get("name") or user.get("email")
                                                  or "attendee"), token, passcode)
        except JoinError as error:
            st.error(str(error))
            return False
    st.session_state[TOKEN_KEY] = token
    st.query_params[SEAT_PARAM] = token
    st.rerun()
    return True
