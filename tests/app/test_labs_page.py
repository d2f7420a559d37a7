"""The Labs page, driven as a learner would with AppTest: the list, a lab's reading and
prediction (the run stays locked until one is committed), the run launched as a real job
(measured by a worker, on the tiny model), and its result, explanation and takeaway."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app import labs_service
from core.jobs import states, store
from core.jobs.worker import JobWorker
from core.labs.content import load_lab
from db.engine import make_engine
from tests.databases import seeded_database_url

MAIN = str(Path(__file__).resolve().parents[2] / "app" / "main.py")
LABS = Path(__file__).resolve().parents[2] / "labs"


@pytest.fixture(scope="module")
def lab_db(tmp_path_factory, full_taxonomy):
    """Its own database: these tests queue jobs, which the shared seeded one must not hold."""
    with seeded_database_url(tmp_path_factory.mktemp("labs"), full_taxonomy, "labs") as url:
        yield url


@pytest.fixture
def app(lab_db, monkeypatch):
    monkeypatch.setenv("OPTATLAS_DB_URL", lab_db)
    at = AppTest.from_file(MAIN, default_timeout=60)
    at.switch_page("routes/labs.py")
    return at


def _text(at: AppTest) -> str:
    return "\n".join([m.value for m in at.markdown] + [c.value for c in at.caption]
                     + [i.value for i in at.info] + [s.value for s in at.success])


def test_the_labs_page_lists_every_lab(app):
    at = app.run()
    assert not at.exception
    text = _text(at)
    for lab in labs_service.labs():
        assert lab.title in text


def test_opening_a_lab_puts_it_in_the_address_and_all_labs_goes_back(app):
    at = app.run()
    lab = labs_service.labs()[1]
    at.button(key=f"open-{lab.slug}").click().run()
    assert at.query_params["lab"] in (lab.slug, [lab.slug])  # a widget's rerun keeps the lab
    assert lab.question in _text(at)
    at.radio(key=f"lab-{lab.slug}-choice").set_value(lab.prediction.choices[1]).run()
    assert lab.question in _text(at)
    next(b for b in at.button if b.label == "All labs").click().run()
    assert "lab" not in at.query_params and "Open this lab" in [b.label for b in at.button]


@pytest.mark.parametrize("slug", [lab.stem.split("-", 1)[1] for lab in sorted(LABS.glob("*.md"))])
def test_every_lab_reads_then_asks_for_a_prediction_before_its_run(app, slug):
    lab = load_lab(next(LABS.glob(f"*-{slug}.md")))
    app.query_params["lab"] = lab.slug
    at = app.run()
    assert not at.exception
    assert lab.question in _text(at) and "##### Read (two minutes)" in _text(at)
    assert not any(b.label.startswith("Run:") for b in at.button)  # locked until predicted
    at.radio(key=f"lab-{lab.slug}-choice").set_value(lab.prediction.choices[0]).run()
    at.button(key=f"lab-{lab.slug}-commit").click().run()
    assert f"You predicted: **{lab.prediction.choices[0]}**" in _text(at)
    assert at.button(key=f"lab-{lab.slug}-run").label == f"Run: {lab.run.title}"


# The tiny model has two layers: a quarter of them rounds to none.
TINY_SETTINGS = {"shrink-then-recover": {"fraction": 0.5, "keep_first_and_last": False},
                 "faster-without-touching-weights": {"draft_layers_kept": 0.5}}


@pytest.mark.parametrize("slug", [lab.stem.split("-", 1)[1] for lab in sorted(LABS.glob("*.md"))])
def test_a_lab_run_is_a_real_job_whose_result_comes_with_the_explanation(
        app, lab_db, monkeypatch, slug):
    # The lab's own run on the tiny model with one evaluation window, so that the test
    # measures in seconds; its other settings (recipe, speed, diagnostics) are the lab's.
    lab = labs_service.lab(slug)
    step = lab.run.steps[0]
    step = {**step, "settings": {**(step.get("settings") or {}), **TINY_SETTINGS.get(slug, {})}}
    tiny = lab.model_copy(update={"run": lab.run.model_copy(update={
        "model": "tiny", "steps": (step, *lab.run.steps[1:]),
        "measure": {**lab.run.measure, "eval_windows": 1}})})
    monkeypatch.setattr(labs_service, "lab", lambda wanted: tiny if wanted == slug else None)
    app.query_params["lab"] = slug
    at = app.run()
    at.radio(key=f"lab-{slug}-choice").set_value(tiny.prediction.choices[1]).run()
    at.button(key=f"lab-{slug}-commit").click().run()
    at.button(key=f"lab-{slug}-run").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    job_id = at.session_state[f"lab-{slug}"]["job"]
    engine = make_engine(lab_db)
    assert store.get_job(engine, job_id).recipe[0]["recipe"] == lab.run.steps[0]["recipe"]
    assert JobWorker(engine, "cpu").run_one(job_id) == states.SUCCEEDED
    at.run()  # the fragment sees it finished and reruns the page
    at.run()
    assert not at.exception
    text = _text(at)
    assert "##### What happened and why" in text and tiny.takeaway in text
    assert f"Your run, job #{job_id}: **" in text
    assert at.button(key=f"lab-{slug}-next").label == f"Run: {lab.try_next.title}"
