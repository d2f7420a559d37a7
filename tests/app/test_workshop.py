"""Workshop mode in the app: nobody sees a page before joining; the seat lands in the URL
and names the attendee again on reload; launches are admitted by the room (owner, caps,
lists) and only the owner may cancel or retry a job."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from app import jobs_service
from core.jobs.spec import InvalidJobError
from core.jobs.store import JobStateError
from core.workshop.passcodes import hash_passcode
from db.engine import make_engine
from db.migrate import upgrade

QUICK = {"eval_windows": 1, "speed": "none", "diagnostics": False}


@pytest.fixture
def room(tmp_path, monkeypatch, isolated_home):
    path = tmp_path / "room.yaml"
    path.write_text(f'teacher_passcode_hash: "{hash_passcode("t")}"\nroom_passcode: owl\n'
                    "models: [tiny]\ncaps: {jobs_per_attendee: 1}\n")
    monkeypatch.setenv("OPTATLAS_WORKSHOP", str(path))
    upgrade(make_engine())
    return path


def _page() -> None:
    import streamlit as st

    from app import workshop

    if workshop.gate():
        workshop.keep_seat_in_url()
        st.write(f"inside as {workshop.current().name}")


def test_a_visitor_joins_before_seeing_a_page_and_a_reload_keeps_the_seat(room):
    at = AppTest.from_function(_page, default_timeout=30).run()
    assert [h.value for h in at.header] == ["Join the workshop"]
    assert not any("inside" in m.value for m in at.markdown)
    at.text_input[0].input("Ann <script>")
    at.text_input[1].input("wrong")
    at.button[0].click().run()
    assert any("not the room's passcode" in e.value for e in at.error)
    at.text_input[1].input("owl")
    at.button[0].click().run()
    token = at.query_params["seat"]
    assert any(m.value == "inside as Ann <script>" for m in at.markdown)
    # A reload: a new session with only the URL.
    again = AppTest.from_function(_page, default_timeout=30)
    again.query_params["seat"] = token
    again.run()
    assert any(m.value == "inside as Ann <script>" for m in again.markdown)
    stranger = AppTest.from_function(_page, default_timeout=30)
    stranger.query_params["seat"] = "made-up"
    stranger.run()
    assert [h.value for h in stranger.header] == ["Join the workshop"]


def test_launches_are_admitted_by_the_room_and_only_owners_change_their_jobs(room):
    spec = {"model": "tiny", "device": "cpu", "measure": QUICK, "steps": [{"recipe": "rtn"}]}
    with pytest.raises(InvalidJobError, match="join the workshop first"):
        jobs_service.submit(spec, "browser-session-1")
    with pytest.raises(InvalidJobError, match="runs the models tiny; 'default'"):
        jobs_service.submit({**spec, "model": "default"}, "seat:1")
    job_id = jobs_service.submit(spec, "seat:1")
    job = jobs_service.job(job_id)
    assert job.owner_session == "seat:1" and job.time_limit_s == 900  # the room's limit
    with pytest.raises(InvalidJobError, match=rf"you have 1 job\(s\).*wait for job #{job_id}"):
        jobs_service.submit(spec, "seat:1")
    with pytest.raises(JobStateError, match="another attendee's"):
        jobs_service.cancel(job_id, "seat:2")
    assert jobs_service.may_change(job, "seat:1") and not jobs_service.may_change(job, "seat:2")
    jobs_service.cancel(job_id, "seat:1")
    assert jobs_service.job(job_id).status == "cancelled"


def _jobs_page() -> None:
    import streamlit as st

    from app import workshop
    from app.navigation import pages
    from app.views import jobs

    if workshop.gate():
        st.navigation(pages(), position="hidden")
        jobs.render()


def test_jobs_shows_my_jobs_by_default_and_everyones_read_only_with_their_names(room):
    from core.jobs.seats import join
    from core.workshop.config import load_workshop

    engine = make_engine()
    the_room = load_workshop(room)
    ann, ann_token = join(engine, the_room, "Ann", "owl")
    bo, _ = join(engine, the_room, "Bo *bold*", "owl")
    spec = {"model": "tiny", "device": "cpu", "measure": QUICK, "steps": [{"recipe": "rtn"}]}
    mine = jobs_service.submit(spec, ann.owner)
    theirs = jobs_service.submit(spec, bo.owner)
    at = AppTest.from_function(_jobs_page, default_timeout=30)
    at.query_params["seat"] = ann_token
    at.run()
    cards = " ".join(m.value for m in at.markdown)
    assert f"#{mine} " in cards and f"#{theirs} " not in cards
    assert [b.label for b in at.button] == ["Cancel"]  # Ann's own job only
    at.radio(key="jobs-whose").set_value("everyone").run()
    cards = " ".join(m.value for m in at.markdown)
    assert f"#{theirs} " in cards and "by Bo \\*bold\\*" in cards  # escaped, not bold
    assert [b.label for b in at.button] == ["Cancel"]  # still only her own
