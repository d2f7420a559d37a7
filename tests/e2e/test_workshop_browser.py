"""End to end in a workshop room: two attendees in two browser contexts and the teacher in
a third, against one real `optatlas serve --workshop`. Attendee A sees B's job read-only
(no cancel), the teacher cancels it, and a reload keeps A's seat and jobs."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bench.live_server import ServerFailed, live_server
from core.jobs import states, store
from core.workshop.passcodes import hash_passcode
from db.engine import make_engine
from db.job_models import Seat

pytestmark = pytest.mark.e2e

TEACHER_PASSCODE = "chalk-and-talk"
# Jobs for a device no worker serves stay queued: the test acts on them at leisure.
WAITING = {"model": "tiny", "device": "cuda:7", "measure": {"eval_windows": 1, "speed": "none"},
           "steps": [{"recipe": "rtn"}]}


@pytest.fixture(scope="module")
def room(tmp_path_factory):
    home = tmp_path_factory.mktemp("room-home")
    room_file = home / "room.yaml"
    room_file.write_text(f'teacher_passcode_hash: "{hash_passcode(TEACHER_PASSCODE)}"\n'
                         "models: [tiny]\ncaps: {jobs_per_attendee: 3}\n")
    try:
        with live_server(home, "--workshop", str(room_file), "--no-executor") as url:
            yield url, make_engine(f"sqlite:///{home / 'optatlas.db'}")
    except ServerFailed as error:
        pytest.fail(str(error))


def _join(browser, url: str, name: str):
    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    page.set_default_timeout(30_000)
    page.goto(url)
    page.get_by_role("heading", name="Join the workshop").wait_for()
    page.get_by_label("Your name").fill(name)
    page.get_by_role("button", name="Join").click()
    page.get_by_test_id("stSidebar").get_by_text("it is your seat").wait_for()
    page.wait_for_url("**seat=*")
    return page


def _seat_owner(engine, name: str) -> str:
    with engine.connect() as connection:
        return f"seat:{connection.scalar(select(Seat.id).where(Seat.name == name))}"


def _open_jobs(page, url: str, everyone: bool = False) -> None:
    seat = page.url.split("seat=", 1)[1].split("&", 1)[0]
    page.goto(f"{url}/jobs?seat={seat}")
    page.get_by_role("heading", name="Jobs").wait_for()
    if everyone:
        page.get_by_text("everyone's", exact=True).click()
    page.wait_for_timeout(1500)  # one refresh of the live list


def test_attendees_act_only_on_their_own_jobs_and_the_teacher_on_any(room, browser):
    url, engine = room
    ann, bo = _join(browser, url, "Ann"), _join(browser, url, "Bo")
    anns_job = store.submit(engine, {**WAITING, "label": "ann-rtn"},
                            owner_session=_seat_owner(engine, "Ann"))
    bos_job = store.submit(engine, {**WAITING, "label": "bo-rtn"},
                           owner_session=_seat_owner(engine, "Bo"))

    _open_jobs(ann, url)
    ann.get_by_text(f"#{anns_job} ann-rtn").wait_for()
    assert ann.get_by_text(f"#{bos_job} bo-rtn").count() == 0  # my jobs by default
    assert ann.get_by_role("button", name="Cancel").count() == 1
    _open_jobs(ann, url, everyone=True)
    ann.get_by_text(f"#{bos_job} bo-rtn").wait_for()
    assert ann.get_by_text("by Bo").count() >= 1
    assert ann.get_by_role("button", name="Cancel").count() == 1  # still only her own

    # A reload keeps Ann's seat and her jobs.
    ann.reload()
    ann.get_by_test_id("stSidebar").get_by_text("person Ann").wait_for()
    ann.get_by_text(f"#{anns_job} ann-rtn").wait_for()

    # The teacher, seated like anyone, opens their page with the passcode and cancels Bo's.
    teacher = _join(browser, url, "Teacher")
    seat = teacher.url.split("seat=", 1)[1].split("&", 1)[0]
    teacher.goto(f"{url}/teacher?seat={seat}")
    teacher.get_by_label("Teacher passcode").fill(TEACHER_PASSCODE)
    teacher.get_by_role("button", name="Open").click()
    teacher.get_by_role("heading", name="Queue").wait_for()
    chooser = teacher.get_by_role("combobox").first
    chooser.click()
    teacher.get_by_role("option", name=f"#{bos_job} bo-rtn · Bo").click()
    teacher.keyboard.press("Escape")
    teacher.get_by_role("button", name="Cancel these jobs").click()
    for _ in range(40):
        if store.get_job(engine, bos_job).status == states.CANCELLED:
            break
        teacher.wait_for_timeout(250)
    assert store.get_job(engine, bos_job).status == states.CANCELLED
    assert store.get_job(engine, anns_job).status == states.QUEUED
    bo.close()
