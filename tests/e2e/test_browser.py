"""End to end: the real server, driven in headless Chromium, as a new user would use it."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from bench.live_server import ServerFailed, live_server

pytestmark = pytest.mark.e2e

def _chromium() -> str:
    for candidate in (os.environ.get("OPTATLAS_CHROMIUM"), "chromium", "chromium-browser",
                      "google-chrome"):
        if candidate and shutil.which(candidate):
            return shutil.which(candidate)
    message = "no Chromium found (make test installs Debian's chromium when run as root)"
    if os.environ.get("OPTATLAS_REQUIRE_BROWSER") == "1":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    try:
        with live_server(tmp_path_factory.mktemp("e2e-home")) as url:
            yield url
    except ServerFailed as error:
        pytest.fail(str(error))


@pytest.fixture
def page(browser, server):
    page = browser.new_page(viewport={"width": 1500, "height": 1000})
    page.set_default_timeout(30_000)
    # An offline workshop room reaches nothing but the server: no page may ask elsewhere
    # (a favicon from a font service, a script from a CDN).
    elsewhere: list[str] = []
    page.on(
        "request",
        lambda request: (
            elsewhere.append(request.url)
            if not request.url.startswith((server, "data:", "blob:"))
            else None
        ),
    )
    yield page
    page.close()
    assert not elsewhere, f"requests left the server: {elsewhere[:5]}"


def _screenshot(page, name: str) -> None:
    folder = os.environ.get("OPTATLAS_SCREENSHOT_DIR")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"))


def _settled(page, text: str) -> None:
    """Wait until the script run is over and `text` stands once on the page: while a rerun
    is under way Streamlit shows the previous run's copy of an element beside the new one."""
    running = page.get_by_test_id("stStatusWidgetRunningIcon")
    for _ in range(120):
        if not running.count() and page.get_by_text(text).count() <= 1:
            return
        page.wait_for_timeout(250)


def _open_expander(page, title: str, *, inside: str) -> None:
    """Open an expander, again if a rerun that was still under way drew it closed."""
    summary = page.get_by_test_id("stExpander").filter(has_text=title).locator("summary")
    for _ in range(5):
        _settled(page, inside)
        # The current run's element comes first; a stale copy may linger after it.
        if page.get_by_text(inside).first.is_visible():
            return
        summary.click()
        page.wait_for_timeout(1500)
    page.get_by_text(inside).first.wait_for()


def test_home_shows_tree_chart_and_overview(server, page):
    page.goto(server)
    page.get_by_text("An atlas of LLM inference optimizations").wait_for()
    for family in ("Quantization", "Pruning", "Knowledge distillation"):
        assert page.get_by_test_id("stExpander").filter(has_text=family).first.is_visible()
    page.locator("[data-testid=stPlotlyChart] g.slice").first.wait_for()
    _screenshot(page, "home")


def test_deep_link_shows_a_nodes_details(server, page):
    page.goto(f"{server}/?technique=gptq")
    page.get_by_role("heading", name="GPTQ", exact=True).wait_for()
    page.get_by_text("How it works").wait_for()
    page.get_by_role("link", name="Run this technique").wait_for()
    assert page.locator("a[href='https://arxiv.org/abs/2210.17323']").count() >= 1
    _screenshot(page, "gptq")


def test_clicking_a_chart_segment_opens_that_node(server, page):
    page.goto(server)
    segment = page.locator("[data-testid=stPlotlyChart] g.slice").filter(has_text="Pruning")
    segment.first.click(force=True)
    page.get_by_role("heading", name="Pruning", exact=True).wait_for()
    page.wait_for_function("location.search.includes('technique=pruning')")


def test_search_narrows_the_tree(server, page):
    page.goto(server)
    search = page.get_by_label("Search", exact=True).and_(page.get_by_role("textbox"))
    search.fill("speculative")
    search.press("Enter")
    page.get_by_text("matching nodes").wait_for()
    hits = page.get_by_role("button", name="Speculative decoding (draft model)")
    assert hits.count() == 2  # once in the tree, once in the results list
    assert page.get_by_role("button", name="GPTQ", exact=True).count() == 0
    hits.last.click()
    page.get_by_role("heading", name="Speculative decoding (draft model)").wait_for()
    _screenshot(page, "search")


def test_compare_from_a_node_and_add_another(server, page):
    page.goto(f"{server}/?technique=gptq")
    page.get_by_role("link", name="Compare with other techniques").click()
    page.get_by_role("heading", name="Compare techniques").wait_for()
    page.get_by_text("Choose at least two techniques").wait_for()
    chooser = page.get_by_role("combobox").first
    chooser.click()
    chooser.press_sequentially("Wanda")
    page.get_by_role("option").filter(has_text="Wanda").first.click()
    page.keyboard.press("Escape")
    # The comparison is an HTML table we build (st.html): lists as bullets, links live. It
    # comes first; the reported numbers' tables follow it.
    table = page.get_by_test_id("stHtml").locator("table").first
    table.wait_for()
    assert "GPTQ" in table.inner_text() and "Wanda" in table.inner_text()
    assert table.locator("a[href='https://arxiv.org/abs/2210.17323']").count() >= 1
    assert table.locator("li").count() > 4
    _screenshot(page, "compare")


def launch_on_the_tiny_model(page, server: str, technique: str, *, check_form=None,
                             shots: str = "") -> None:
    """From `technique`'s page, launch it on the tiny model (decode at batch 1 only), follow
    the job to its end and stay on the Jobs page; `check_form(page)` looks at the Launch
    form first. Screenshots are named `shots` + launch / jobs."""
    page.goto(f"{server}/?technique={technique}")
    # A node that several recipes run offers one link per recipe; its usual one comes first.
    page.get_by_role("link", name="Run this technique").or_(
        page.get_by_role("link", name="Run with ")).first.click()
    page.get_by_role("heading", name="Launch a job").wait_for()
    page.get_by_text("A tiny random model").click()
    if check_form is not None:
        check_form(page)
    _open_expander(page, "What to measure", inside="decode at batch 1 only")
    _settled(page, "decode at batch 1 only")
    page.get_by_text("decode at batch 1 only").first.click()
    page.get_by_text("Estimate:").wait_for()
    _screenshot(page, f"{shots}launch")
    page.get_by_role("button", name="Launch").click()
    page.get_by_text("queued.").wait_for()
    page.get_by_role("link", name="Follow job").click()
    page.get_by_role("heading", name="Jobs").wait_for()
    page.get_by_role("link", name="See it on the Results page").wait_for(timeout=240_000)
    _screenshot(page, f"{shots}jobs")


def test_launch_a_technique_and_find_it_on_the_results_page(server, page):
    # The embedded executor's worker measures the baseline, runs GPTQ, measures the result.
    launch_on_the_tiny_model(page, server, "gptq", check_form=lambda form: form.get_by_text(
        "Step 1: GPTQ").wait_for())
    page.get_by_role("link", name="See it on the Results page").click()
    page.get_by_role("heading", name="Results").wait_for()
    charts = page.locator("[data-testid=stPlotlyChart]")
    charts.nth(3).wait_for()
    assert charts.count() >= 4
    page.get_by_text("Pareto frontier").first.wait_for()
    page.wait_for_function("location.search.includes('jobs=')")
    _screenshot(page, "results")


def test_a_node_shows_its_takeaway_first_and_offers_each_of_its_recipes(server, page):
    page.goto(f"{server}/?technique=rtn")
    page.get_by_role("heading", name="RTN (round-to-nearest)", exact=True).wait_for()
    main = page.get_by_test_id("stMain")
    takeaway = main.get_by_test_id("stAlertContentInfo").first
    takeaway.wait_for()
    # The takeaway is the first text under the title, above the badges and the summary.
    assert "Rounds every weight" in takeaway.inner_text()
    summary_box = main.get_by_text("introductory", exact=True).first.bounding_box()
    assert takeaway.bounding_box()["y"] < summary_box["y"]
    for recipe in ("rtn", "quanto", "torchao-int4"):
        link = page.get_by_role("link", name=f"Run with {recipe}")
        link.wait_for()
        assert f"recipe={recipe}" in link.get_attribute("href")
    _screenshot(page, "rtn-takeaway-recipes")
    page.get_by_role("link", name="Run with quanto").click()
    page.get_by_role("heading", name="Launch a job").wait_for()
    page.wait_for_function("location.search.includes('recipe=quanto')")


def test_a_glossary_link_on_a_node_opens_its_entry(server, page):
    page.goto(f"{server}/?technique=gptq")
    page.get_by_role("heading", name="GPTQ", exact=True).wait_for()
    link = page.locator("[data-testid=stMain] a[href*='glossary?term=']").first
    link.wait_for()
    href = link.get_attribute("href")
    term = href.split("term=")[1]
    assert link.get_attribute("title"), "the definition is the link's hover text"
    page.goto(f"{server}/glossary?term={term}")
    page.get_by_role("heading", name="Glossary").wait_for()
    page.get_by_text("you came for this").wait_for()
    _screenshot(page, "glossary-term")
