"""Each lab done as a new learner would, in headless Chromium against a real `optatlas serve`
on a fresh data directory: open the Labs page, open the lab, commit to a prediction, run the
prepared job and wait for its takeaway. Prints the time of each stage per lab and saves a
screenshot of each lab's result.

    python -m bench.lab_walkthrough [--only outliers,...] [--out DIR] [--reading-s 0]

A learner reads for about two minutes before predicting; the machine is idle meanwhile, so
by default the walk does not wait and the table adds `--reading-allowance-s` (120 s) to the
measured time; `--reading-s 120` waits for real instead."""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.live_server import CHROMIUM_ARGS, live_server
from core.labs.content import Lab, load_labs

TAKEAWAY_TIMEOUT_MS = 10 * 60 * 1000
LAB_BUDGET_S = 10 * 60


@dataclass(frozen=True)
class LabWalk:
    """What one walk through a lab took, in seconds from opening it."""

    slug: str
    opened_s: float  # the lab's page drawn (question and reading)
    predicted_s: float  # the prediction committed and the run button shown
    takeaway_s: float  # the result, explanation and takeaway drawn
    screenshot: Path | None


def walk_lab(page, url: str, lab: Lab, position: int, *, reading_s: float = 0.0,
             screenshot: Path | None = None) -> LabWalk:
    """Walk `lab`, the `position`th (from 0) on the Labs list, in `page` from the list to
    its takeaway, choosing the first answer."""
    page.goto(f"{url}/labs")
    page.get_by_role("heading", name="Labs").wait_for()
    start = time.monotonic()
    page.get_by_role("button", name="Open this lab").nth(position).click()
    page.wait_for_url(f"**/labs?lab={lab.slug}")
    page.get_by_text(lab.question[:60]).wait_for()
    page.get_by_text("Read (two minutes)").wait_for()
    opened = time.monotonic() - start
    page.wait_for_timeout(reading_s * 1000)
    page.get_by_test_id("stRadio").locator("label").filter(
        has_text=lab.prediction.choices[0]).click()
    commit = page.get_by_role("button", name="Commit my prediction")
    _wait_enabled(page, commit)
    commit.click()
    page.get_by_text("You predicted:").wait_for()
    run = page.get_by_role("button", name=f"Run: {lab.run.title}")
    run.wait_for()
    predicted = time.monotonic() - start
    run.click()
    page.get_by_text("Takeaway.").wait_for(timeout=TAKEAWAY_TIMEOUT_MS)
    page.get_by_role("heading", name="What happened and why").wait_for()
    taken = time.monotonic() - start
    if screenshot is not None:
        page.wait_for_timeout(1500)  # the result's charts finish drawing
        # Streamlit scrolls inside its main block, so a full-page shot shows one screen:
        # take the result and the explanation with the takeaway, each scrolled into view.
        for part, anchor in (("result", page.get_by_role("heading", name="Result", exact=True)),
                             ("takeaway", page.get_by_text("Takeaway."))):
            anchor.evaluate("element => element.scrollIntoView({block: 'start'})")
            page.wait_for_timeout(300)
            page.screenshot(path=str(screenshot.with_name(f"{screenshot.stem}-{part}.png")))
    return LabWalk(lab.slug, opened, predicted, taken, screenshot)


def _wait_enabled(page, button, timeout_s: float = 30) -> None:
    # The button is drawn disabled until the rerun that follows the radio click arrives.
    deadline = time.monotonic() + timeout_s
    while button.count() == 0 or not button.is_enabled():
        if time.monotonic() > deadline:
            raise TimeoutError("the prediction's commit button did not become enabled")
        page.wait_for_timeout(200)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="", help="comma-separated lab slugs")
    parser.add_argument("--out", type=Path, default=Path("bench-out/labs"))
    parser.add_argument("--reading-s", type=float, default=0.0,
                        help="seconds to wait on the reading before predicting")
    parser.add_argument("--reading-allowance-s", type=float, default=120.0,
                        help="reading time added to the measured time when not waited")
    args = parser.parse_args(argv)
    wanted = {slug for slug in args.only.split(",") if slug}
    labs = [lab for lab in load_labs() if not wanted or lab.slug in wanted]
    args.out.mkdir(parents=True, exist_ok=True)
    allowance = 0.0 if args.reading_s else args.reading_allowance_s

    from playwright.sync_api import sync_playwright

    from tests.e2e.test_browser import _chromium

    walks: list[LabWalk] = []
    with tempfile.TemporaryDirectory(prefix="optatlas-labs-") as home, \
            live_server(Path(home)) as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=_chromium(),
                                             args=CHROMIUM_ARGS)
        listed = [lab.slug for lab in load_labs()]
        for lab in labs:
            # A new learner each time: a fresh context, so a fresh session.
            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            page = context.new_page()
            page.set_default_timeout(60_000)
            walk = walk_lab(page, url, lab, listed.index(lab.slug), reading_s=args.reading_s,
                            screenshot=args.out / f"{lab.order:02d}-{lab.slug}.png")
            walks.append(walk)
            total = walk.takeaway_s + allowance
            print(f"{lab.order}. {lab.slug:34s} opened {walk.opened_s:6.1f} s  predicted "
                  f"{walk.predicted_s:6.1f} s  takeaway {walk.takeaway_s:6.1f} s  "
                  f"with reading {total / 60:5.2f} min  "
                  f"{'ok' if total <= LAB_BUDGET_S else 'OVER 10 min'}", flush=True)
            context.close()
        browser.close()
    over = [w.slug for w in walks if w.takeaway_s + allowance > LAB_BUDGET_S]
    print(f"{len(walks)} labs; reading {'waited' if args.reading_s else 'added'}: "
          f"{args.reading_s or allowance:.0f} s; over 10 minutes: {over or 'none'}; "
          f"screenshots in {args.out}")
    return 1 if over else 0


if __name__ == "__main__":
    raise SystemExit(main())
