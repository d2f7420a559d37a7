"""A room's day: how long the Jobs, Results and teacher pages take to render (server time,
AppTest, no browser) with 1,000 finished jobs and their results in the database.

    python -m bench.room_day_render [--jobs 1000] [--attendees 30] [--repeats 5]

One real job runs on the tiny model; the other jobs are rows owned by the attendees in
turn, each with a copy of that measured result (what identical runs in a room leave), so
the database holds what a day of a room does: jobs, results, metrics, seats. Prints the
median and interquartile range of fresh renders of each page, for an attendee (their own
jobs, and everyone's) and for the teacher, beside the same pages on an empty room.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path

from bench import report

ROOT = Path(__file__).resolve().parents[1]


def _fill(engine, room, jobs: int, attendees: int) -> str:
    from core.jobs import store
    from core.jobs.results import copy_job_result
    from core.jobs.seats import join
    from core.jobs.worker import JobWorker
    from db.engine import transaction

    seats = [join(engine, room, f"attendee {n:02d}") for n in range(attendees)]
    spec = {"model": "tiny", "device": "cpu", "steps": [{"recipe": "rtn"}],
            "measure": {"eval_windows": 1, "speed": "none"}}
    measured = store.submit(engine, spec, owner_session=seats[0][0].owner)
    JobWorker(engine, "cpu").run_one(measured)
    source = store.get_job(engine, measured)
    with transaction(engine) as session:
        for n in range(1, jobs):
            owner = seats[n % attendees][0].owner
            job = store.new_job(store.spec_of(source), device="cpu", owner_session=owner)
            job.status, job.attempt = source.status, 1
            job.started_at, job.finished_at = source.started_at, source.finished_at
            job.timings = source.timings
            session.add(job)
            session.flush()
            copy_job_result(session, measured, job.id, "bench copy of a measured result")
    return seats[1][1]


def _render(script: str, token: str, *, everyone: bool = False, teacher: bool = False) -> float:
    from streamlit.testing.v1 import AppTest

    app = AppTest.from_file(str(ROOT / "app" / "main.py"), default_timeout=120)
    app.query_params["seat"] = token
    if teacher:
        app.session_state["workshop-teacher"] = True
    if everyone:
        app.session_state["jobs-whose"] = "everyone"
        app.session_state["results-whose"] = "everyone"
    app.switch_page(script)
    start = time.perf_counter()
    app.run()
    elapsed = time.perf_counter() - start
    if app.exception:
        raise RuntimeError(f"{script} raised: {app.exception[0].value}")
    return elapsed


def _pages(token: str, repeats: int) -> dict[str, list[float]]:
    cases = {
        "jobs (mine)": ("routes/jobs.py", {}),
        "jobs (everyone's)": ("routes/jobs.py", {"everyone": True}),
        "results (mine)": ("routes/results.py", {}),
        "results (everyone's)": ("routes/results.py", {"everyone": True}),
        "teacher": ("routes/teacher.py", {"teacher": True}),
    }
    for script, flags in cases.values():
        _render(script, token, **flags)  # warm: imports and caches, as a serving process is
    return {name: [_render(script, token, **flags) for _ in range(repeats)]
            for name, (script, flags) in cases.items()}


def main(argv: list[str] | None = None) -> int:
    parser = report.parser(__doc__)
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--attendees", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="optatlas-day-") as folder:
        home = Path(folder)
        os.environ["OPTATLAS_HOME"] = str(home)
        os.environ["OPTATLAS_DB_URL"] = f"sqlite:///{home / 'optatlas.db'}"
        from core.workshop.config import load_workshop
        from core.workshop.passcodes import hash_passcode
        from db.engine import make_engine
        from db.migrate import upgrade
        from taxonomy.loader import load_taxonomy
        from taxonomy.seed import seed

        room_file = home / "room.yaml"
        room_file.write_text(f'teacher_passcode_hash: "{hash_passcode("bench")}"\n'
                             "models: [tiny]\n")
        os.environ["OPTATLAS_WORKSHOP"] = str(room_file)
        engine = make_engine()
        upgrade(engine)
        seed(engine, load_taxonomy())
        room = load_workshop(room_file)
        from core.jobs.seats import join

        _, empty_token = join(engine, room, "first visitor")
        empty = _pages(empty_token, args.repeats)
        token = _fill(engine, room, args.jobs, args.attendees)
        full = _pages(token, args.repeats)
    rows = []
    for name in full:
        before, after = statistics.median(empty[name]), statistics.median(full[name])
        quartiles = statistics.quantiles(full[name], n=4) if len(full[name]) > 1 else [after] * 3
        rows.append({"name": name, "empty_room_ms": before * 1000, "day_ms": after * 1000,
                     "day_iqr_ms": (quartiles[2] - quartiles[0]) * 1000,
                     "ratio": after / before})
    print(f"Server time per render (median of {args.repeats}), an empty room beside one with "
          f"{args.jobs} finished jobs and their results, {args.attendees} attendees:")
    millis = report.fixed(0)
    report.print_table(rows, ("empty_room_ms", "day_ms", "day_iqr_ms", "ratio"),
                       formats={"empty_room_ms": millis, "day_ms": millis,
                                "day_iqr_ms": millis, "ratio": report.fixed(2)}, first="page")
    report.write_json(rows, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
