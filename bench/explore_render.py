"""How long one render of the Explore page takes with the full taxonomy (AppTest, no browser).

    python -m bench.explore_render [--repeats N] [--json PATH]

Rows, each in a fresh process so that "first" means first:
- `first_in_process`: the very first AppTest run, paying Streamlit's own one-time start-up
  (component discovery, plotly theme) as well as ours (imports, engine, catalog load);
- `first_page`: the first Explore run after Streamlit itself has started (a blank page ran
  before) but before any of the pages' libraries (pandas, SQLAlchemy) were imported;
- `first_visit_served`: as `optatlas serve` runs it: Streamlit started and the pages'
  modules imported before the first visitor arrives;
- `rerun`, `rerun_selected`, `rerun_search`: what a user waits for on every click, the
  median of N fresh AppTest runs with the interquartile range.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import report

ROOT = Path(__file__).resolve().parents[1]


def _seeded_database(folder: Path) -> str:
    from db.engine import make_engine
    from db.migrate import upgrade
    from taxonomy.loader import load_taxonomy
    from taxonomy.seed import seed

    url = f"sqlite:///{folder / 'bench.db'}"
    engine = make_engine(url)
    upgrade(engine)
    seed(engine, load_taxonomy())
    engine.dispose()
    return url


def _blank_page() -> None:
    import streamlit as st

    st.write("warm-up")


def _timed_run(query: dict[str, str] | None = None, search: str | None = None) -> float:
    from streamlit.testing.v1 import AppTest

    app = AppTest.from_file(str(ROOT / "app" / "main.py"), default_timeout=60)
    for key, value in (query or {}).items():
        app.query_params[key] = value
    if search is None:
        start = time.perf_counter()
        app.run()
        elapsed = time.perf_counter() - start
    else:
        app.run()
        box = app.sidebar.text_input(key="search_text").input(search)
        start = time.perf_counter()
        box.run()
        elapsed = time.perf_counter() - start
    if app.exception:
        raise RuntimeError(f"the page raised: {app.exception[0].value}")
    return elapsed * 1000


def _summary(name: str, samples: list[float]) -> dict:
    quartiles = statistics.quantiles(samples, n=4) if len(samples) > 1 else [samples[0]] * 3
    return {
        "name": name,
        "render_ms": round(statistics.median(samples), 1),
        "render_iqr_ms": round(quartiles[2] - quartiles[0], 1),
        "repeats": len(samples),
        "execution": "real",
        "protocol": {"harness": "streamlit.testing AppTest", "page": "Explore",
                     "cpu_count": os.cpu_count()},
    }


def _in_fresh_process(row: str, repeats: int) -> dict:
    # A child process per row: module imports and Streamlit caches start empty. It runs from
    # the repository root, where `-m bench.explore_render` finds this module.
    output = subprocess.run(
        [sys.executable, "-m", "bench.explore_render", "--row", row, "--repeats", str(repeats)],
        check=True,
        capture_output=True,
        text=True,
        env=os.environ,
        cwd=ROOT,
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


def _measure_row(row: str, repeats: int) -> dict:
    from streamlit.testing.v1 import AppTest

    if row == "first_in_process":
        return _summary(row, [_timed_run()])
    if row in ("first_page", "first_visit_served"):
        AppTest.from_function(_blank_page).run()
        if row == "first_visit_served":
            import app.navigation  # noqa: F401  (what `optatlas serve` does before serving)
        return _summary(row, [_timed_run()])
    _timed_run()  # the first run pays start-up; reruns are what each click costs
    if row == "rerun":
        return _summary(row, [_timed_run() for _ in range(repeats)])
    if row == "rerun_selected":
        return _summary(row, [_timed_run({"technique": "gptq"}) for _ in range(repeats)])
    return _summary(row, [_timed_run(search="quant") for _ in range(repeats)])


ROWS = (
    "first_in_process",
    "first_page",
    "first_visit_served",
    "rerun",
    "rerun_selected",
    "rerun_search",
)


def main() -> int:
    """Measure every row in its own process and print (and write) the table."""
    parser = report.parser(__doc__)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--row", choices=ROWS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.row:
        print(json.dumps(_measure_row(args.row, args.repeats)))
        return 0
    with tempfile.TemporaryDirectory() as folder:
        os.environ["OPTATLAS_HOME"] = folder
        os.environ["OPTATLAS_DB_URL"] = _seeded_database(Path(folder))
        rows = [_in_fresh_process(row, args.repeats) for row in ROWS]
    report.print_table(rows, ("render_ms", "render_iqr_ms", "repeats"),
                       headers={"render_ms": "render ms (median)", "render_iqr_ms": "IQR ms",
                                "repeats": "runs"},
                       formats={"render_ms": report.fixed(1), "render_iqr_ms": report.fixed(1)})
    report.write_json(rows, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
