"""Launch, Jobs and Results, driven with AppTest over a database holding real runs of a tiny
model (measured by a worker in the fixture, not made up)."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from core.jobs import states, store
from core.jobs.worker import JobWorker
from db.engine import make_engine
from db.migrate import upgrade

QUICK = {"eval_windows": 1, "speed": "decode_b1", "diagnostics": True}


def _run_page(name: str) -> None:
    import streamlit as st

    from app.navigation import pages
    from app.views import jobs, launch, results

    st.navigation(pages(), position="hidden")  # registers the pages that links point to
    {"launch": launch, "jobs": jobs, "results": results}[name].render()


def _app(name: str) -> AppTest:
    return AppTest.from_function(_run_page, args=(name,), default_timeout=60)


@pytest.fixture(scope="module")
def measured_db(tmp_path_factory):
    """A database with a baseline, two finished runs and a failed one, measured for real."""
    home = tmp_path_factory.mktemp("jobs-home")
    url = f"sqlite:///{home / 'jobs.db'}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OPTATLAS_HOME", str(home))
        patch.setenv("OPTATLAS_DB_URL", url)
        engine = make_engine(url)
        upgrade(engine)
        ids = [store.submit(engine, {"model": "tiny", "device": "cpu", "measure": QUICK,
                                     "steps": steps})
               for steps in ([{"recipe": "rtn", "settings": {"bits": 4, "group_size": 16}}],
                             [{"recipe": "w8a8", "settings": {}}],
                             [{"recipe": "rtn", "settings": {"group_size": 48}}])]
        worker = JobWorker(engine, "cpu")
        statuses = [worker.run_one(job_id) for job_id in ids]
        assert statuses == [states.SUCCEEDED, states.SUCCEEDED, states.FAILED]
        engine.dispose()
    return url, ids


@pytest.fixture
def pages(measured_db, monkeypatch):
    url, ids = measured_db
    monkeypatch.setenv("OPTATLAS_DB_URL", url)

    def make(name: str) -> AppTest:
        return _app(name)

    make.ids = ids
    return make


def test_launch_from_a_technique_queues_a_job(pages):
    at = pages("launch")
    at.query_params["technique"] = "gptq"
    at.run()
    assert not at.exception
    assert any("Step 1: GPTQ" in m.value for m in at.markdown)
    labels = {n.label for n in at.number_input}
    assert {"bits", "damping", "block size", "calibration samples"} <= labels
    assert any("Estimate:" in i.value for i in at.info)
    at.radio(key="launch-model-kind").set_value("tiny").run()
    at.number_input(key="step-0-gptq-bits").set_value(3).run()
    launch = next(b for b in at.button if b.label == "Launch")
    launch.click().run()
    assert not at.exception
    success = [s.value for s in at.success]
    assert success and success[0].startswith("Job ")
    job_id = int(success[0].split()[1])
    job = store.get_job(make_engine(), job_id)
    assert job.status == states.QUEUED and job.model_ref == "tiny"
    assert job.recipe == [{"recipe": "gptq", "settings": {"bits": 3}}]
    assert job.technique_slug == "gptq"


def test_launch_shows_errors_inline_and_refuses(pages):
    at = pages("launch")
    at.query_params["technique"] = "gptq"
    at.run()
    at.radio(key="launch-model-kind").set_value("hub").run()
    at.text_input(key="launch-hub-id").input("not a model!").run()
    assert any("neither 'default', a local folder nor a Hugging Face id" in e.value
               for e in at.error)
    assert next(b for b in at.button if b.label == "Launch").disabled


def test_launch_says_when_a_recipe_is_not_runnable_in_this_version(pages):
    at = pages("launch")
    at.query_params["recipe"] = "not-a-recipe"  # e.g. a link from a newer version
    at.run()
    assert any("not runnable in this version" in w.value for w in at.warning)


def test_launch_of_an_inference_time_technique_says_how_it_is_measured(pages):
    at = pages("launch")
    at.query_params["technique"] = "speculative-decoding"
    at.run()
    assert not at.exception
    assert any("side by side" in c.value for c in at.caption)
    at.radio(key="launch-model-kind").set_value("tiny").run()
    at.text_input(key="step-0-speculative-decoding-draft_model").input("").run()
    at.number_input(key="step-0-speculative-decoding-draft_tokens").set_value(3).run()
    next(b for b in at.button if b.label == "Launch").click().run()
    assert not at.exception
    job_id = int(at.success[0].value.split()[1])
    job = store.get_job(make_engine(), job_id)
    assert job.recipe == [{"recipe": "speculative-decoding", "settings": {"draft_tokens": 3}}]


def test_jobs_page_lists_progress_errors_and_retries(pages):
    at = pages("jobs")
    at.run()
    assert not at.exception
    text = "\n".join(m.value for m in at.markdown)
    first, _, failed = pages.ids
    assert f"#{first} rtn(bits=4,group_size=16)" in text and ":green-badge[succeeded]" in text
    assert any(e.value.startswith("bad config: ") and "48" in e.value for e in at.error)
    assert any(c.value.startswith("What to do:") for c in at.caption)
    retry = next(b for b in at.button if b.key == f"retry-{failed}")
    retry.click().run()
    engine = make_engine()
    assert store.get_job(engine, failed).status == states.QUEUED
    store.request_cancel(engine, failed)  # leave the shared database as it was: nothing queued


def test_results_page_plots_the_runs_beside_the_baseline(pages):
    at = pages("results")
    first, second, _ = pages.ids
    at.query_params["jobs"] = f"{first},{second}"
    at.run()
    assert not at.exception
    chosen = at.multiselect(key="results-choice").value
    assert len(chosen) == 3  # the two runs and their shared baseline
    assert len(at.get("plotly_chart")) >= 6  # three trade-offs, the bars, two layer plots
    table = at.dataframe[0].value
    assert set(table["execution"]) == {"real", "simulated"}
    assert any("No reported number" in c.value for c in at.caption)
    assert len(at.get("download_button")) == 2  # CSV and JSON
    at.multiselect(key="results-choice").set_value(chosen[:2]).run()
    assert at.query_params["runs"] == ",".join(str(i) for i in chosen[:2])


def test_results_page_without_runs_says_how_to_get_some(monkeypatch, tmp_path):
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    monkeypatch.setenv("OPTATLAS_DB_URL", url)
    at = _app("results").run()
    assert any("No measured runs yet" in i.value for i in at.info)
