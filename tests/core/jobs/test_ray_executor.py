"""The Ray executor on a real multi-node Ray cluster simulated on this machine (Ray's own
`ray.cluster_utils.Cluster`: a head with no job resources and two worker nodes, one of them
announcing a T4 GPU), with PostgreSQL as the shared store and the dispatcher in its own
process, as `optatlas executor --ray` runs it. Tiny-model jobs go through it: placement by
resource and no job handed to Ray before a node has room, a killed worker process and a
removed node each leaving the job interrupted and a retry that records exactly one result,
a cancel forced on a process that does not answer, and a dispatcher restart that follows the
jobs Ray still runs and interrupts the ones it lost."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from core.jobs import states, store
from core.jobs.ray_job import NAMESPACE, SLOT_PREFIX
from db.engine import make_engine, transaction
from db.job_models import Job, Result
from db.migrate import upgrade
from tests.core.jobs.waiting import wait_for
from tests.databases import fresh_postgres_url

ray = pytest.importorskip("ray", reason="the Ray executor's tests need Ray: pip install "
                          "-e '.[ray]'")
from ray.cluster_utils import Cluster  # noqa: E402

ROOT = Path(__file__).resolve().parents[3]
QUICK = {"eval_windows": 2, "speed": "none", "diagnostics": False}
RTN = {"model": "tiny", "device": "cpu", "measure": QUICK,
       "steps": [{"recipe": "rtn", "settings": {"bits": 4, "group_size": 16}}]}
CPU_NODE = {"num_cpus": 1}
T4_NODE = {"num_cpus": 1, "num_gpus": 1, "resources": {"accelerator_type:T4": 1}}
GRACE_S = 3


@pytest.fixture(scope="module")
def cluster():
    """A head node with no CPUs for jobs, a CPU node and a node announcing a T4; this test
    process joins as a driver to look at the jobs' actors."""
    made = Cluster(initialize_head=True,
                   head_node_args={"num_cpus": 0, "include_dashboard": False})
    made.node_args = {}
    for args in (CPU_NODE, T4_NODE):
        made.node_args[made.add_node(**args).node_id] = args
    made.wait_for_nodes()
    ray.init(address=made.address, namespace=NAMESPACE, log_to_driver=False)
    yield made
    ray.shutdown()
    made.shutdown()


@pytest.fixture
def engine(isolated_home, monkeypatch):
    """A fresh PostgreSQL schema, the cluster's shared store."""
    with fresh_postgres_url("ray") as url:
        monkeypatch.setenv("OPTATLAS_DB_URL", url)
        made = make_engine(url)
        upgrade(made)
        yield made
        made.dispose()


class Dispatchers:
    """Starts `optatlas executor --ray` processes for the test and stops them after it."""

    def __init__(self, address: str) -> None:
        self.address, self.processes = address, []

    def start(self) -> subprocess.Popen:
        process = subprocess.Popen(
            [sys.executable, "-m", "core.jobs.executor", "--ray", "--ray-address", self.address,
             "--cancel-grace-s", str(GRACE_S)],
            cwd=ROOT, env=os.environ.copy(), stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.processes.append(process)
        return process

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()
                process.wait(10)


@pytest.fixture
def dispatchers(cluster, engine):
    made = Dispatchers(cluster.address)
    yield made
    made.stop()
    for name in _slot_names():  # what a test left running
        ray.kill(ray.get_actor(name), no_restart=True)


def _job(engine, job_id: int) -> Job:
    return store.get_job(engine, job_id)


def _results(engine, job_id: int) -> int:
    with transaction(engine) as session:
        return session.scalar(select(func.count()).select_from(Result)
                              .where(Result.job_id == job_id))


def _wait_status(engine, job_id: int, wanted: tuple[str, ...], timeout_s: float = 180) -> Job:
    return wait_for(lambda: (job := _job(engine, job_id)).status in wanted and job,
                    timeout_s, f"job {job_id} to be {' or '.join(wanted)}", every_s=0.2)


def _wait_measuring(engine, job_id: int) -> Job:
    return wait_for(lambda: (job := _job(engine, job_id)).progress_stage.startswith("baseline")
                    and job, 180, f"job {job_id} to start measuring", every_s=0.2)


def _slot_names() -> list[str]:
    return [name for name in ray.util.list_named_actors() if name.startswith(SLOT_PREFIX)]


def _slot_of(job: Job) -> tuple[str, int]:
    """The name and process id of the Ray job slot that runs `job`."""
    for name in _slot_names():
        state = ray.get(ray.get_actor(name).state.remote(), timeout=30)
        if state["job"] and tuple(state["job"])[:2] == (job.id, job.attempt):
            return name, state["pid"]
    raise AssertionError(f"no slot runs job {job.id} attempt {job.attempt}")


def _node_of(job: Job) -> str:
    return job.lease_owner.split(":")[1]  # ray:<node id>:<dispatcher pid>:<n>


def test_jobs_go_where_their_resources_are_and_wait_in_the_queue_not_in_ray(
        cluster, engine, dispatchers):
    cpu_jobs = [store.submit(engine, RTN) for _ in range(3)]
    t4_job = store.submit(engine, {**RTN, "device": "cuda@T4", "steps": []})
    h100_job = store.submit(engine, {**RTN, "device": "cuda@H100", "steps": []})
    dispatchers.start()
    t4_node = next(i for i, args in cluster.node_args.items() if args is T4_NODE)
    most_running, queued_while_full, placed = 0, False, {}
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        jobs = {i: _job(engine, i) for i in (*cpu_jobs, t4_job)}
        running = [j for j in jobs.values() if j.status == states.RUNNING]
        most_running = max(most_running, len(running))
        queued_while_full |= len(running) == 2 and any(
            j.status == states.QUEUED for j in jobs.values())
        placed.update({j.id: _node_of(j) for j in running})
        if all(j.status in states.FINISHED for j in jobs.values()):
            break
        time.sleep(0.2)
    # Two nodes of one CPU each: never more than two jobs at once; the rest waited queued.
    assert most_running == 2 and queued_while_full
    assert all(_job(engine, i).status == states.SUCCEEDED for i in cpu_jobs)
    assert [_results(engine, i) for i in cpu_jobs] == [1, 1, 1]
    # The T4 job went to the node announcing a T4 (which has no real GPU: it says so).
    assert t4_node.startswith(placed[t4_job])
    t4 = _job(engine, t4_job)
    assert t4.status == states.FAILED and "no CUDA GPU" in t4.error_message
    # No node has an H100: that job waits in the queue, never handed to Ray.
    assert _job(engine, h100_job).status == states.QUEUED
    # Launch offers the cluster's devices, one row per node and device.
    served = sorted(w.device for w in store.live_workers(engine))
    assert served == ["cpu", "cpu", "cuda@T4"]


def test_a_killed_ray_worker_interrupts_its_job_and_a_retry_records_one_result(
        engine, dispatchers):
    job_id = store.submit(engine, RTN)
    dispatchers.start()
    os.kill(_slot_of(_wait_measuring(engine, job_id))[1], signal.SIGKILL)
    job = _wait_status(engine, job_id, (states.INTERRUPTED,), 60)
    assert "Ray worker process" in job.error_message and "retry" in job.error_message
    store.retry(engine, job_id)
    job = _wait_status(engine, job_id, (states.SUCCEEDED,))
    assert job.attempt == 2 and _results(engine, job_id) == 1


def test_a_removed_node_interrupts_its_job_and_a_retry_runs_elsewhere(
        cluster, engine, dispatchers):
    job_id = store.submit(engine, RTN)
    dispatchers.start()
    running = _wait_measuring(engine, job_id)
    node = next(n for n in cluster.worker_nodes if n.node_id.startswith(_node_of(running)))
    args = cluster.node_args.pop(node.node_id)
    cluster.remove_node(node)
    try:
        job = _wait_status(engine, job_id, (states.INTERRUPTED,), 90)
        assert "died or left the cluster" in job.error_message
        store.retry(engine, job_id)
        assert not node.node_id.startswith(_node_of(_wait_measuring(engine, job_id)))
        job = _wait_status(engine, job_id, (states.SUCCEEDED,))
        assert job.attempt == 2 and _results(engine, job_id) == 1
    finally:
        cluster.node_args[cluster.add_node(**args).node_id] = args  # the next tests' node
        cluster.wait_for_nodes()


def test_a_cancel_the_process_cannot_answer_is_forced_after_the_grace_period(
        engine, dispatchers):
    job_id = store.submit(engine, RTN)
    dispatchers.start()
    name, pid = _slot_of(_wait_measuring(engine, job_id))
    os.kill(pid, signal.SIGSTOP)  # frozen: no step boundary, no watchdog
    asked = time.monotonic()
    assert store.request_cancel(engine, job_id) == "cancelling"
    job = _wait_status(engine, job_id, (states.CANCELLED,), 60)
    assert time.monotonic() - asked >= GRACE_S
    assert "stopped after the grace period" in job.error_message
    wait_for(lambda: name not in _slot_names(), 30, "its slot to be gone")
    assert _results(engine, job_id) == 0


def test_a_restarted_dispatcher_follows_what_ray_runs_and_interrupts_what_it_lost(
        engine, dispatchers):
    job_id = store.submit(engine, RTN)
    first = dispatchers.start()
    running = _wait_measuring(engine, job_id)
    slot, pid = _slot_of(running)
    first.kill()  # the dispatcher dies; the job's detached slot goes on
    first.wait(10)
    # A job the database believes runs on Ray, whose slot Ray never had (its cluster lost it).
    lost = store.submit(engine, RTN)
    with transaction(engine) as session:
        session.execute(update(Job).where(Job.id == lost).values(
            status=states.RUNNING, attempt=1, lease_owner="ray:0123456789abcdef:1:1",
            started_at=store.now(), heartbeat_at=store.now()))
    dispatchers.start()
    job = _wait_status(engine, lost, (states.INTERRUPTED,), 60)
    assert "Ray no longer runs it" in job.error_message
    done = _wait_status(engine, job_id, (states.SUCCEEDED,))
    assert done.attempt == running.attempt == 1 and _results(engine, job_id) == 1
    # The slot it took over runs the next job in the same process (torch stays loaded): an
    # idle slot that fits comes before a new one.
    wait_for(lambda: ray.get(ray.get_actor(slot).state.remote(), timeout=30)["done"], 30,
             "the slot to be idle")
    time.sleep(2)  # a few dispatcher rounds: it has seen the slot idle
    following = store.submit(engine, RTN)
    assert _slot_of(_wait_measuring(engine, following)) == (slot, pid)
    _wait_status(engine, following, (states.SUCCEEDED,))
