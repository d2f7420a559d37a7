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


def _teacher_page() -> None:
    import streamlit as st

    from app import workshop
    from app.navigation import pages
    from app.views import teacher

    if workshop.gate():
        st.navigation(pages(room=True), position="hidden")
        workshop.show_banner()
        teacher.render()


def test_the_teachers_page_opens_with_the_passcode_and_runs_the_room(room):
    from core.jobs.seats import join
    from core.workshop.config import load_workshop

    engine = make_engine()
    the_room = load_workshop(room)
    ann, ann_token = join(engine, the_room, "Ann", "owl")
    bo, _ = join(engine, the_room, "Bo", "owl")
    spec = {"model": "tiny", "device": "cpu", "measure": QUICK, "steps": [{"recipe": "rtn"}]}
    bos_job = jobs_service.submit(spec, bo.owner)
    at = AppTest.from_function(_teacher_page, default_timeout=30)
    at.query_params["seat"] = ann_token  # the teacher is seated like anyone, then signs in
    at.run()
    assert not at.dataframe and at.text_input[0].label == "Teacher passcode"
    at.text_input[0].input("owl").run()  # the room's passcode is not the teacher's
    at.button[0].click().run()
    assert any("not the teacher passcode" in e.value for e in at.error)
    at.text_input[0].input("t")
    at.button[0].click().run()
    queue = at.dataframe[0].value
    assert list(queue["job"]) == [bos_job] and list(queue["attendee"]) == ["Bo"]
    assert list(queue["place"]) == ["next"]
    # Cancel any job: Bo's, which Ann as an attendee could not.
    at.multiselect(key="teacher-cancel-choice").set_value([bos_job]).run()
    at.button(key="teacher-cancel").click().run()
    assert jobs_service.job(bos_job).status == "cancelled"
    # Pause launching: attendees are refused until it resumes.
    at.button(key="teacher-pause").click().run()
    with pytest.raises(InvalidJobError, match="paused launching"):
        jobs_service.submit(spec, ann.owner)
    at.button(key="teacher-resume").click().run()
    ann_job = jobs_service.submit(spec, ann.owner)
    # A banner, shown to the room as typed (not as Markdown).
    at.text_area[0].input("Break till *11*")
    form_buttons = [b for b in at.button if b.label == "Show to the room"]
    form_buttons[0].click().run()
    assert any(i.value == "Break till \\*11\\*" for i in at.info)
    progress = at.dataframe[-1].value
    assert dict(zip(progress["attendee"], progress["jobs"])) == {"Ann": 1, "Bo": 1}
    # Reset: every job archived, nothing deleted.
    at.checkbox(key="teacher-reset-sure").check().run()
    at.button(key="teacher-reset").click().run()
    assert any("2 job(s) archived, 1 queued job(s) cancelled" in s.value for s in at.success)
    assert jobs_service.jobs() == [] and jobs_service.job(ann_job).archived_at is not None


def test_everyones_results_export_names_each_runs_attendee(room):
    import csv
    import io

    from app import room_service
    from core.jobs.seats import join
    from core.jobs.worker import JobWorker
    from core.workshop.config import load_workshop

    engine = make_engine()
    ann, _ = join(engine, load_workshop(room), "Ann, \"the first\"", "owl")
    spec = {"model": "tiny", "device": "cpu", "measure": QUICK, "steps": [{"recipe": "rtn"}]}
    job_id = jobs_service.submit(spec, ann.owner)
    JobWorker(engine, "cpu").run_one(job_id)
    rows = list(csv.DictReader(io.StringIO(room_service.results_csv())))
    run = next(row for row in rows if row["job_id"] == str(job_id))
    assert run["attendee"] == 'Ann, "the first"' and float(run["ppl"]) > 0
    baseline = next(row for row in rows if row["kind"] == "baseline")
    assert baseline["attendee"] == ""
