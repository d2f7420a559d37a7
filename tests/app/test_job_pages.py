"""Launch, Jobs and Results, driven with AppTest over a database holding real runs of a tiny
model (measured by a worker in the fixture, not made up)."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from core.engine.model_refs import MAX_MODEL_REF_CHARS
from core.jobs import states, store
from core.jobs.worker import JobWorker
from db.engine import make_engine
from db.migrate import upgrade
from tests.databases import suite_database_url

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
    with pytest.MonkeyPatch.context() as patch, suite_database_url(home, "jobs") as url:
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
        yield url, ids


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
    labels = {n.label for n in at.text_input}
    assert {"bits", "damping", "block size", "calibration samples"} <= labels
    assert any("Estimate:" in i.value for i in at.info)
    at.radio(key="launch-model-kind").set_value("tiny").run()
    at.text_input(key="step-0-gptq-bits").input("3").run()
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
    at.text_input(key="step-0-speculative-decoding-draft_tokens").input("3").run()
    # The tiny model has 2 layers: the default draft (75 % of them) would remove none, and
    # the launch check says so before anything is queued.
    assert any("removes none" in e.value for e in at.error)
    at.text_input(key="step-0-speculative-decoding-draft_layers_kept").input("0.5").run()
    next(b for b in at.button if b.label == "Launch").click().run()
    assert not at.exception
    job_id = int(at.success[0].value.split()[1])
    job = store.get_job(make_engine(), job_id)
    assert job.recipe == [{"recipe": "speculative-decoding",
                           "settings": {"draft_tokens": 3, "draft_layers_kept": 0.5}}]
    store.request_cancel(make_engine(), job_id)


def test_jobs_page_lists_progress_errors_and_retries(pages):
    at = pages("jobs")
    at.run()
    assert not at.exception
    # Labels are escaped for Markdown (shown as typed); read them without the escapes.
    text = "\n".join(m.value for m in at.markdown).replace("\\", "")
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
    # Four trade-offs (size, decode, prefill, peak memory), the bars, two layer plots.
    assert len(at.get("plotly_chart")) >= 7
    table = at.dataframe[0].value
    assert set(table["execution"]) == {"real", "simulated"}
    assert any("No reported number" in c.value for c in at.caption)
    assert any(f"jobs #{first}, #{second}" in c.value for c in at.caption)
    assert len(at.get("download_button")) == 2  # CSV and JSON
    runs_only = [i for i in chosen if i != min(chosen)]
    at.multiselect(key="results-choice").set_value(runs_only).run()
    # The URL says job numbers, as the Jobs page shows them.
    assert at.query_params["jobs"] == f"{first},{second}"


def test_a_model_filter_keeps_the_selection_or_shows_that_models_runs(pages):
    engine = make_engine()
    other = store.submit(engine, {"model": "tiny:1", "device": "cpu", "measure": QUICK,
                                  "steps": [{"recipe": "rtn"}]})
    assert JobWorker(engine, "cpu").run_one(other) == states.SUCCEEDED
    at = pages("results")
    first, second, _ = pages.ids
    at.query_params["jobs"] = f"{first},{second}"
    at.run()
    chosen = at.multiselect(key="results-choice").value
    models = at.multiselect(key="results-model").options
    tiny = next(m for m in models if m == "tiny")
    at.multiselect(key="results-model").set_value([tiny]).run()
    assert not at.exception
    assert at.multiselect(key="results-choice").value == chosen  # nothing of it filtered out
    # Filtering to the other model does not leave an empty selection: its runs are shown.
    at.multiselect(key="results-model").set_value(["tiny:1"]).run()
    shown = at.multiselect(key="results-choice").value
    assert shown and not set(shown) & set(chosen)
    assert any(f"job #{other}" in c.value for c in at.caption)


def test_results_opens_on_the_job_just_followed(pages):
    first, second, _ = pages.ids
    at = pages("results")
    at.session_state["followed_job"] = first
    at.run()
    assert any(f"job #{first} and 1 baseline" in c.value for c in at.caption)


def test_only_a_baseline_says_to_add_a_run(pages):
    at = pages("results")
    at.run()
    from core.jobs.results import list_results

    baseline = next(r.id for r in list_results(make_engine()) if r.kind == "baseline")
    at.multiselect(key="results-choice").set_value([baseline]).run()
    assert any("Only a baseline is selected" in i.value for i in at.info)


def test_results_page_without_runs_says_how_to_get_some(monkeypatch, tmp_path):
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    monkeypatch.setenv("OPTATLAS_DB_URL", url)
    at = _app("results").run()
    assert any("No measured runs yet" in i.value for i in at.info)


def _launch_button(at):
    return next(b for b in at.button if b.label == "Launch")


def _queued_jobs() -> list:
    return store.list_jobs(make_engine(), statuses=[states.QUEUED])


@pytest.mark.parametrize(("technique", "field", "typed", "says"), [
    ("wanda", "sparsity", "-0.5", "a number at least 0 and below 1"),
    ("gptq", "bits", "99", "a whole number from 2 to 8"),
    ("gptq", "bits", "3.5", "is not a whole number"),
])
def test_an_out_of_range_number_disables_launch_and_names_the_range(pages, technique, field,
                                                                     typed, says):
    at = pages("launch")
    at.query_params["technique"] = technique
    at.run()
    at.radio(key="launch-model-kind").set_value("tiny").run()
    before = len(_queued_jobs())
    at.text_input(key=f"step-0-{technique}-{field}").input(typed).run()
    assert not at.exception
    assert any(says in e.value for e in at.error)
    assert _launch_button(at).disabled  # so nothing is queued, least of all a default value
    assert len(_queued_jobs()) == before


@pytest.mark.parametrize("kind", ["hub", "local"])
def test_an_over_long_model_name_gets_a_message_not_a_traceback(pages, kind):
    at = pages("launch")
    at.query_params["technique"] = "rtn"
    at.run()
    at.radio(key="launch-model-kind").set_value(kind).run()
    key = "launch-hub-id" if kind == "hub" else "launch-folder"
    at.text_input(key=key).input(("/" if kind == "local" else "") + "a" * 5000).run()
    assert not at.exception
    assert any(f"at most {MAX_MODEL_REF_CHARS} characters" in e.value for e in at.error)
    assert at.error and all(len(e.value) < 400 for e in at.error)
    assert _launch_button(at).disabled


def test_a_model_and_settings_that_cannot_run_are_refused_before_queueing(pages, monkeypatch,
                                                                          tmp_path):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # the Hub unreachable
    at = pages("launch")
    at.query_params["technique"] = "gptq"
    at.run()
    at.radio(key="launch-model-kind").set_value("hub").run()
    at.text_input(key="launch-hub-id").input("nope/does-not-exist").run()
    assert any("not in the local Hugging Face cache" in e.value for e in at.error)
    assert _launch_button(at).disabled
    at.radio(key="launch-model-kind").set_value("default").run()
    at.radio(key="step-0-gptq-group_size-choice").set_value("set").run()
    at.text_input(key="step-0-gptq-group_size").input("100").run()
    assert any("group_size 100 does not divide" in e.value and "576" in e.value
               for e in at.error)
    assert _launch_button(at).disabled


def test_launch_says_what_a_simulated_recipe_shows_and_where_the_bundled_model_comes_from(pages):
    at = pages("launch")
    at.query_params["technique"] = "gptq"
    at.run()
    assert any("Simulated" in i.value and "quality only" in i.value for i in at.info)
    # ... and how to make it real: pack the rounded weights into a kernel.
    assert any("set *pack*" in i.value and "cpu_int4" in i.value for i in at.info)
    assert any("Q4_1 GGUF" in c.value and "float checkpoint" in c.value for c in at.caption)
    assert at.radio(key="launch-speed").value == "auto"
    estimate = next(i.value for i in at.info if i.value.startswith("Estimate:"))
    assert "baseline" in estimate and "measure: speed" not in estimate


def test_after_launching_the_same_job_again_is_a_link_not_a_second_click(pages):
    at = pages("launch")
    at.query_params["technique"] = "rtn"
    at.run()
    at.radio(key="launch-model-kind").set_value("tiny").run()
    _launch_button(at).click().run()
    job_id = int(at.success[0].value.split()[1])
    at.run()
    assert _launch_button(at).disabled
    assert any(f"Job #{job_id} does exactly this" in i.value for i in at.info)
    at.toggle(key="launch-duplicate").set_value(True).run()
    assert not _launch_button(at).disabled
    store.request_cancel(make_engine(), job_id)


def test_launch_of_a_method_that_cannot_run_says_why_and_links_its_page(pages):
    at = pages("launch")
    at.query_params["technique"] = "spqr"
    at.run()
    assert not at.exception
    assert any("cannot be run here" in w.value and "SpQR" in w.value for w in at.warning)
    assert not [b for b in at.button if b.label == "Launch"]


def test_a_retried_job_shows_as_queued_without_its_old_error(pages):
    engine = make_engine()
    job_id = store.submit(engine, {"model": "tiny", "device": "cpu", "measure": QUICK,
                                   "steps": [{"recipe": "rtn"}]})
    store.request_cancel(engine, job_id)
    at = pages("jobs")
    at.query_params["job"] = str(job_id)
    at.run()
    shown = lambda: sum("cancelled before it started" in e.value for e in at.error)  # noqa: E731
    before = shown()
    assert before >= 1
    next(b for b in at.button if b.key == f"retry-{job_id}").click().run()
    at.run()
    job = store.get_job(engine, job_id)
    assert job.status == states.QUEUED and job.error_message is None and job.started_at is None
    assert shown() == before - 1  # this card no longer shows the old outcome
    store.request_cancel(engine, job_id)


def test_queued_jobs_show_their_place_and_finished_ones_their_headline(pages):
    engine = make_engine()
    for job in store.list_jobs(engine, statuses=[states.QUEUED]):  # left by earlier tests
        store.request_cancel(engine, job.id)
    ids = [store.submit(engine, {"model": "tiny", "device": "cpu", "measure": QUICK,
                                 "steps": [{"recipe": "rtn", "settings": {"bits": b}}]},
                        estimate_s=30.0) for b in (3, 5)]
    at = pages("jobs")
    at.run()
    texts = [p.proto.text for p in at.get("progress")]
    assert any("1 waiting before it" in t and "about 30 s" in t for t in texts)
    plain_markdown = "\n".join(m.value for m in at.markdown).replace("\\", "")
    # rtn (simulated) and w8a8 (real) finished in the fixture: each card says how it fared,
    # the simulated one with the size its format takes packed, computed (not its float size).
    assert "(computed) · speed: none (a simulated run computes in float)" in plain_markdown
    assert "packed size 0." in plain_markdown
    assert "decode b1" in plain_markdown and "perplexity" in plain_markdown
    for job_id in ids:
        store.request_cancel(engine, job_id)


def test_results_exports_a_runs_model_and_shows_its_read_back_check(pages):
    first, _, _ = pages.ids
    at = pages("results")
    at.query_params["jobs"] = str(first)
    at.run()
    assert any("No export of this run yet" in c.value for c in at.caption)
    at.selectbox(key="results-export-format").set_value("safetensors")
    next(b for b in at.button if b.label == "Export the model").click().run()
    assert not at.exception
    [queued] = [j for j in _queued_jobs() if j.export and j.export["of_job"] == first]
    assert any(f"Export job {queued.id} queued" in s.value for s in at.success)
    assert JobWorker(make_engine(), "cpu").run_one(queued.id) == states.SUCCEEDED
    at.run()
    shown = " ".join(m.value for m in at.markdown)
    assert "safetensors · " in shown and "read back by transformers: perplexity" in shown


def test_a_rooms_live_jobs_pages_share_their_refreshes():
    from app.views.jobs import LIVE_REFRESH_TIERS_S, REFRESH_S, ROOM_REFRESHES_PER_S, live_refresh_s

    # One visitor follows at the quickest period; thirty waiting attendees together stay
    # within the room's refreshes per second, and no crowd stops the list refreshing.
    assert live_refresh_s(0) == live_refresh_s(1) == REFRESH_S
    assert 30 / live_refresh_s(30) <= ROOM_REFRESHES_PER_S
    assert live_refresh_s(10_000) == LIVE_REFRESH_TIERS_S[-1]
    periods = [live_refresh_s(n) for n in range(1, 100)]
    assert periods == sorted(periods)
