"""Scale-out: one batch of small jobs on the local executor and on a Ray cluster of two
simulated nodes, side by side, with one Ray node removed halfway through.

    python -m bench.scale_out [--jobs 8] [--model tiny] [--db postgresql|sqlite] [--json PATH]

Both runs share everything but the executor: the same store (a fresh PostgreSQL schema by
default, the cluster's store), the same jobs (RTN at 4 bits on `--model`, 2 evaluation
windows, no speed measurement), and two job slots of one CPU thread each: the local
executor's two worker processes (`--per-device 2 --threads 1`), or Ray's two worker nodes of
one CPU each (plus a head with none; `ray.cluster_utils.Cluster`). Halfway through the Ray
run (when half the jobs have finished) the node running a job is removed; the bench then
retries each interrupted job, as a user would press Retry.

Reported per executor: the batch's wall time (first submit to last success); dispatch
latency, the time from the moment a job could start (it was queued and a slot was free) to
the moment it ran (`running` in the database), p50 and p95 over every attempt; attempts
interrupted and retried; jobs lost (not succeeded at the end: must be 0); duplicate results
(result rows beyond one per job: must be 0); and the ratio of Ray's wall time to the local
executor's. On two cores the two slots share the machine with Ray's own processes and the
removed node costs the rest of the batch one slot, so the ratio overstates a real cluster's
overhead.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from bench import report

ROOT = Path(__file__).resolve().parents[1]
SLOTS = 2
POLL_S = 0.2


@dataclass(frozen=True)
class Attempt:
    """One run of a job as the database recorded it: when it became eligible to be queued
    (submitted, or retried), when it started and ended, and how it ended."""

    job_id: int
    queued_at: datetime
    started_at: datetime
    finished_at: datetime
    status: str


def dispatch_latencies(attempts: Sequence[Attempt], slots: int,
                       opened_at: datetime) -> list[float]:
    """Seconds from the moment each attempt could start to the moment it started.

    A slot frees when an attempt ends normally (an interrupted attempt's slot went with its
    node); `slots` slots are free at `opened_at`. Attempts take free slots in the order they
    started; an attempt could start at the later of when it was queued and when the slot it
    took became free."""
    frees = sorted([opened_at] * slots + [a.finished_at for a in attempts
                                          if a.status != "interrupted"])
    latencies = []
    for attempt in sorted(attempts, key=lambda a: a.started_at):
        free = next((f for f in frees if f <= attempt.started_at), None)
        if free is None:  # a clock skew of a few milliseconds: count it as ready at once
            latencies.append(0.0)
            continue
        frees.remove(free)
        ready = max(attempt.queued_at, free)
        latencies.append(max(0.0, (attempt.started_at - ready).total_seconds()))
    return latencies


def percentile(values: Iterable[float], share: float) -> float | None:
    """The `share` quantile of `values` (nearest rank), None when there are none."""
    ordered = sorted(values)
    if not ordered:
        return None
    return ordered[min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))]


@contextmanager
def _store(kind: str, home: Path):
    from tests.databases import fresh_postgres_url, postgres_problem

    if kind == "postgresql" and postgres_problem():
        raise SystemExit(f"{postgres_problem()}; run with --db sqlite, or point "
                         "OPTATLAS_TEST_POSTGRES_URL at a server")
    if kind == "sqlite":
        yield f"sqlite:///{home / 'optatlas.db'}"
    else:
        with fresh_postgres_url("scale_out") as url:
            yield url


def _submit(engine, jobs: int, model: str) -> list[int]:
    from core.jobs import store

    spec = {"model": model, "device": "cpu", "measure": {"eval_windows": 2, "speed": "none",
                                                           "diagnostics": False},
            "steps": [{"recipe": "rtn", "settings": {"bits": 4, "group_size": 16}}]}
    return [store.submit(engine, spec) for _ in range(jobs)]


class Batch:
    """Follows a batch of jobs to their end: records each attempt, retries interrupted ones."""

    def __init__(self, engine, job_ids: list[int]) -> None:
        self.engine, self.job_ids = engine, job_ids
        self.queued_at = {}
        self.attempts: list[Attempt] = []

    def follow(self, timeout_s: float, halfway=None) -> None:
        from core.jobs import states, store

        for job_id in self.job_ids:
            self.queued_at[job_id] = store.get_job(self.engine, job_id).created_at
        halfway_done = halfway is None
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            jobs = [store.get_job(self.engine, i) for i in self.job_ids]
            for job in jobs:
                if job.status == states.INTERRUPTED:
                    self._record(job)
                    store.retry(self.engine, job.id)
                    self.queued_at[job.id] = store.now()
                    report.progress(f"job {job.id} interrupted ({job.error_message[:90]}); "
                                    "retried")
            finished = [j for j in jobs if j.status in (states.SUCCEEDED, states.FAILED,
                                                        states.CANCELLED)]
            if not halfway_done and len(finished) >= len(jobs) // 2:
                halfway_done = halfway(jobs)
            if len(finished) == len(jobs):
                for job in finished:
                    self._record(job)
                return
            time.sleep(POLL_S)
        report.progress(f"the batch did not finish within {timeout_s:.0f} s")

    def _record(self, job) -> None:
        from core.jobs.store import as_utc

        self.attempts.append(Attempt(job.id, as_utc(self.queued_at[job.id]),
                                     as_utc(job.started_at), as_utc(job.finished_at),
                                     job.status))

    def row(self, name: str, opened_at: datetime, wall_s: float) -> dict:
        from sqlalchemy import func, select

        from core.jobs import states, store
        from db.engine import transaction
        from db.job_models import Result

        with transaction(self.engine) as session:
            results = session.scalar(select(func.count()).select_from(Result)
                                     .where(Result.job_id.in_(self.job_ids)))
        succeeded = sum(store.get_job(self.engine, i).status == states.SUCCEEDED
                        for i in self.job_ids)
        latencies = dispatch_latencies(self.attempts, SLOTS, opened_at)
        return {"name": name, "jobs": len(self.job_ids), "wall_s": wall_s,
                "dispatch_p50_s": percentile(latencies, 0.5),
                "dispatch_p95_s": percentile(latencies, 0.95),
                "dispatch_max_s": max(latencies, default=None),
                "retried": sum(a.status == "interrupted" for a in self.attempts),
                "lost": len(self.job_ids) - succeeded, "duplicates": results - succeeded,
                "execution": "real"}


def _run_local(engine, env: dict, jobs: int, model: str) -> dict:
    from core.jobs import store

    report.progress("local executor: 2 workers of 1 thread")
    executor = subprocess.Popen(
        [sys.executable, "-m", "core.jobs.executor", "--devices", "cpu", "--per-device",
         str(SLOTS), "--threads", "1"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        # The batch starts once both workers are up, as Ray's starts once its nodes are.
        deadline = time.monotonic() + 60
        while len(store.live_workers(engine)) < SLOTS and time.monotonic() < deadline:
            time.sleep(POLL_S)
        opened_at, started = store.now(), time.monotonic()
        batch = Batch(engine, _submit(engine, jobs, model))
        batch.follow(timeout_s=900)
        return batch.row("local executor", opened_at, time.monotonic() - started)
    finally:
        os.killpg(executor.pid, signal.SIGTERM)
        executor.wait(30)


def _run_ray(engine, env: dict, jobs: int, model: str, remove_node: bool) -> dict:
    import ray
    from ray.cluster_utils import Cluster

    from core.jobs import store
    from core.jobs.ray_job import NAMESPACE

    report.progress("Ray: a head with no CPUs and two worker nodes of 1 CPU")
    cluster = Cluster(initialize_head=True,
                      head_node_args={"num_cpus": 0, "include_dashboard": False})
    nodes = [cluster.add_node(num_cpus=1) for _ in range(SLOTS)]
    cluster.wait_for_nodes()
    dispatcher = subprocess.Popen(
        [sys.executable, "-m", "core.jobs.executor", "--ray", "--ray-address", cluster.address],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True)
    removed: list[str] = []

    def remove_a_busy_node(jobs_now) -> bool:
        running = [j for j in jobs_now if j.status == "running" and j.lease_owner]
        if not running:
            return False
        node_prefix = running[0].lease_owner.split(":")[1]
        node = next((n for n in nodes if n.node_id.startswith(node_prefix)), None)
        if node is None:
            return False
        report.progress(f"removing the Ray node that runs job {running[0].id}")
        cluster.remove_node(node)
        removed.append(node.node_id)
        return True

    try:
        deadline = time.monotonic() + 60
        while len({w.host + w.id for w in store.live_workers(engine)}) < SLOTS and \
                time.monotonic() < deadline:
            time.sleep(POLL_S)
        opened_at, started = store.now(), time.monotonic()
        batch = Batch(engine, _submit(engine, jobs, model))
        batch.follow(timeout_s=900, halfway=remove_a_busy_node if remove_node else None)
        row = batch.row("Ray, 2 nodes" + (", one removed halfway" if removed else ""),
                        opened_at, time.monotonic() - started)
        return {**row, "nodes_removed": len(removed)}
    finally:
        dispatcher.terminate()
        dispatcher.wait(30)
        ray.init(address=cluster.address, namespace=NAMESPACE, log_to_driver=False)
        for name in ray.util.list_named_actors():
            ray.kill(ray.get_actor(name), no_restart=True)
        ray.shutdown()
        cluster.shutdown()


def main() -> int:
    parser = report.parser(__doc__)
    parser.add_argument("--jobs", type=int, default=8, help="jobs in the batch (default 8)")
    parser.add_argument("--model", default="tiny", help="tiny (default) or default (the "
                        "bundled model)")
    parser.add_argument("--db", choices=["postgresql", "sqlite"], default="postgresql",
                        help="the store both runs share (default: a fresh PostgreSQL schema)")
    parser.add_argument("--keep-nodes", action="store_true",
                        help="remove no Ray node halfway through")
    args = parser.parse_args()
    from db.engine import make_engine
    from db.migrate import upgrade

    rows = []
    for executor in ("local", "ray"):
        with ExitStack() as stack:
            home = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="scale-out-")))
            url = stack.enter_context(_store(args.db, home))
            env = {**os.environ, "OPTATLAS_HOME": str(home), "OPTATLAS_DB_URL": url}
            os.environ.update(OPTATLAS_HOME=str(home), OPTATLAS_DB_URL=url)
            engine = make_engine(url)
            upgrade(engine)
            rows.append(_run_local(engine, env, args.jobs, args.model) if executor == "local"
                        else _run_ray(engine, env, args.jobs, args.model, not args.keep_nodes))
            engine.dispose()
    protocol = {"jobs": args.jobs, "model": args.model, "store": args.db, "slots": SLOTS,
                "threads_per_job": 1, "recipe": "rtn bits=4 group_size=16",
                "measure": "eval_windows=2, speed none", "cpus": os.cpu_count()}
    rows = [{**row, "protocol": protocol} for row in rows]
    report.print_table(rows, ("jobs", "wall_s", "dispatch_p50_s", "dispatch_p95_s",
                              "dispatch_max_s", "retried", "lost", "duplicates"),
                       formats={"wall_s": report.fixed(1), "dispatch_p50_s": report.fixed(2),
                                "dispatch_p95_s": report.fixed(2),
                                "dispatch_max_s": report.fixed(2)})
    local, on_ray = rows
    ratio = on_ray["wall_s"] / local["wall_s"]
    print(f"\nRay / local wall time: {ratio:.2f}x  ({on_ray['wall_s']:.1f} s / "
          f"{local['wall_s']:.1f} s, the same {args.jobs} jobs)")
    print(f"protocol: {protocol}")
    report.write_json([*rows, {"name": "ray_to_local_wall_ratio", "ratio": ratio,
                               "execution": "real", "protocol": protocol}], args.json)
    return 0 if all(r["lost"] == 0 and r["duplicates"] == 0 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
