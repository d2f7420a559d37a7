"""End to end: a learner does a lab in headless Chromium against a real `optatlas serve`,
from the Labs list through the reading, a committed prediction and the prepared run to the
result, the explanation and the takeaway; the Labs list then shows the lab done. The lab is
the shipped outliers lab, copied into a teacher's folder and pointed at the tiny model."""

from __future__ import annotations

import pytest
import yaml

from bench.lab_walkthrough import walk_lab
from bench.live_server import CHROMIUM_ARGS, ServerFailed, live_server
from core.labs.content import LABS_DIR, load_lab, load_labs
from tests.e2e.test_browser import _chromium

pytestmark = pytest.mark.e2e


def _tiny_copy(folder):
    """The outliers lab as a teacher would edit it: the tiny model, one evaluation window."""
    text = (LABS_DIR / "01-outliers.md").read_text(encoding="utf-8")
    _, front, body = text.split("---\n", 2)
    data = yaml.safe_load(front)
    for run in ("run", "try_next"):
        data[run]["model"] = "tiny"
        data[run]["measure"]["eval_windows"] = 1
    path = folder / "01-outliers.md"
    path.write_text(f"---\n{yaml.safe_dump(data, sort_keys=False)}---\n{body}",
                    encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def lab_server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("teacher-labs")
    lab = load_lab(_tiny_copy(folder))
    home = tmp_path_factory.mktemp("lab-home")
    try:
        with live_server(home, env={"OPTATLAS_LABS_DIR": str(folder)}) as url:
            yield url, lab
    except ServerFailed as error:
        pytest.fail(str(error))


def test_a_learner_does_a_lab_from_the_question_to_the_takeaway(lab_server, tmp_path):
    from playwright.sync_api import sync_playwright

    url, lab = lab_server
    assert [each.slug for each in load_labs(LABS_DIR)][0] == lab.slug
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=_chromium(), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(30_000)
        walk = walk_lab(page, url, lab, 0, screenshot=tmp_path / "lab.png")
        assert walk.opened_s <= walk.predicted_s <= walk.takeaway_s
        # The result: the learner's run against the float model, the gallery's beside it,
        # the per-layer plots, and what they predicted.
        line = page.get_by_text("Your run, job #")
        assert "against the float model measured the same way" in line.inner_text()
        assert page.get_by_text(f"You predicted: {lab.prediction.choices[0]}").count() == 1
        assert page.get_by_test_id("stDataFrame").count() == 1  # the gallery's runs
        assert page.get_by_test_id("stPlotlyChart").count() == 2
        assert page.get_by_role("button", name=f"Run: {lab.try_next.title}").count() == 1
        assert page.get_by_text("Traceback").count() == 0
        # Back on the list, the lab says it is done (progress kept in the session).
        page.get_by_role("button", name="All labs").click()
        page.get_by_text(f"{lab.title} · done").wait_for()
        browser.close()
