"""The Ray executor: a dispatcher that hands the database's queued jobs to a Ray cluster.

The database stays the queue and the source of truth. Each round the dispatcher
- follows the jobs it placed: a job's actor that died (its worker process killed, its node
  removed, out of memory) leaves the job `interrupted` with a message naming what died; an
  actor whose job ended is stopped; a cancel the job did not honour within the grace period
  is forced by killing the actor;
- interrupts running jobs whose heartbeat went stale (a frozen process);
- claims queued jobs in the queue's fair order, one at a time, only while some node has the
  job's resources free (core.jobs.ray_placement), and starts each as a detached actor pinned
  to that node (core.jobs.ray_job), which runs the same job runner as a local worker;
- records each node's devices as worker rows, so Launch offers the cluster's devices.

On start it reconciles: jobs the database says run on Ray but whose actor Ray no longer has
are interrupted; those Ray still runs are followed as if placed now.

    optatlas executor --ray [--ray-address ADDR]     (or: optatlas serve --executor ray)
"""

from __future__ import annotations

import itertools
import os
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine, select

from core.jobs import states, store
from core.jobs.ray_job import NAMESPACE, RayJob, actor_name
from core.jobs.ray_placement import (
    Demand,
    RayNode,
    Usage,
    cluster_devices,
    demand,
    engine_device,
    live_nodes,
    node_devices,
    pick_node,
)
from core.jobs.store import Lease
from core.jobs.worker import CANCEL_GRACE_S
from db.engine import transaction
from db.job_models import Job, Worker

POLL_S = 0.5
NODE_BEAT_S = 2.0
# The dispatcher forces a cancel this long after the job's own watchdog would have: the
# watchdog ends a step that does not return; the dispatcher, a process that does not answer.
FORCE_MARGIN_S = 5.0
OWNER_PREFIX = "ray:"
WORKER_PREFIX = "ray:"


@dataclass
class _Placed:
    """A job the dispatcher follows: its lease, where it runs and what it holds there."""

    lease: Lease
    device: str
    node: RayNode | None
    taken: Demand
    actor: Any
    asked: Any = None  # the outstanding state() call, if any


def death_reason(error: BaseException, node: RayNode | None) -> str:
    """What died, in words, from Ray's account of an actor's death."""
    text = str(error)
    where = f"Ray node {node.short()}" if node else "its Ray node"
    if "node has died" in text or "NodeDiedError" in text or "node was terminated" in text:
        return f"{where} died or left the cluster"
    lowered = text.lower()
    if type(error).__name__ == "OutOfMemoryError" or "low on memory" in lowered or \
            "memory pressure" in lowered or "memory monitor" in lowered:
        return f"Ray stopped its worker on {where} for lack of memory (out of memory)"
    if "not schedulable" in text or "doesn't exist any more" in text:
        return f"Ray could not start it on {where}: the node is gone"
    return f"its Ray worker process on {where} died (killed, crashed or out of memory)"


class RayDispatcher:
    """Places queued jobs on a Ray cluster and follows them to their end."""

    def __init__(self, engine: Engine, *, address: str | None = None,
                 cpus_per_job: float = 1.0, artifacts_dir: str | None = None,
                 cancel_grace_s: float = CANCEL_GRACE_S,
                 stale_after_s: float = store.DEFAULT_STALE_AFTER_S,
                 poll_s: float = POLL_S) -> None:
        if cpus_per_job <= 0:
            raise ValueError("cpus_per_job must be more than 0")
        self.engine, self.address = engine, address
        self.cpus_per_job, self.artifacts_dir = cpus_per_job, artifacts_dir
        self.cancel_grace_s, self.stale_after_s, self.poll_s = (cancel_grace_s, stale_after_s,
                                                                poll_s)
        self.placed: dict[int, _Placed] = {}
        self.nodes: list[RayNode] = []
        self.stopping = False
        self._serial = itertools.count(1)
        self._last_node_beat = 0.0
        self._actor_class = None

    # -- connecting ----------------------------------------------------------------------
    def connect(self) -> None:
        """Join the Ray cluster at `address` (a local one when None and none runs)."""
        import ray

        if not ray.is_initialized():
            ray.init(address=self.address, namespace=NAMESPACE, log_to_driver=False,
                     configure_logging=False)
        if self._actor_class is None:
            self._actor_class = ray.remote(RayJob)

    def log(self, line: str) -> None:
        print(f"[ray-executor] {line}", flush=True)

    # -- one round -----------------------------------------------------------------------
    def step(self) -> None:
        """Follow, force, reap, record the nodes and dispatch: one round of the loop."""
        import ray

        self.nodes = live_nodes(ray.nodes())
        self._follow()
        self._check_rows()
        store.reap(self.engine, stale_after_s=self.stale_after_s)
        self._beat_nodes()
        self._dispatch()

    def _follow(self) -> None:
        import ray

        for placed in self.placed.values():
            if placed.asked is None:
                placed.asked = placed.actor.state.remote()
        asked = {placed.asked: placed for placed in self.placed.values()}
        if not asked:
            return
        ready, _ = ray.wait(list(asked), num_returns=len(asked), timeout=0)
        for ref in ready:
            placed = asked[ref]
            placed.asked = None
            try:
                state = ray.get(ref)
            except ray.exceptions.RayError as error:
                why = death_reason(error, placed.node)
                if store.interrupt(self.engine, placed.lease, why):
                    self.log(f"job {placed.lease.job_id} interrupted: {why}")
                self._release(placed, kill=False)
                continue
            if state["done"]:
                if state["error"]:
                    store.finish(self.engine, placed.lease, states.FAILED, error_kind="crash",
                                 message=f"the job could not start on Ray node "
                                 f"{placed.node.short() if placed.node else '?'}: "
                                 f"{state['error']}")
                self._release(placed)

    def _check_rows(self) -> None:
        """Let go of jobs that ended in the database; force cancels past their grace."""
        if not self.placed:
            return
        with transaction(self.engine) as session:
            rows = session.execute(
                select(Job.id, Job.status, Job.attempt, Job.lease_owner,
                       Job.cancel_requested_at).where(Job.id.in_(list(self.placed)))
            ).all()
        by_id = {row.id: row for row in rows}
        deadline = timedelta(seconds=self.cancel_grace_s + FORCE_MARGIN_S)
        for job_id, placed in list(self.placed.items()):
            row = by_id.get(job_id)
            if row is None or row.status != states.RUNNING or \
                    (row.attempt, row.lease_owner) != (placed.lease.attempt, placed.lease.owner):
                self._release(placed)  # ended, reaped or retried: its actor has nothing to do
                continue
            asked_at = store.as_utc(row.cancel_requested_at)
            if asked_at is not None and store.now() - asked_at > deadline:
                self._release(placed)
                where = placed.node.short() if placed.node else "its node"
                if store.finish(self.engine, placed.lease, states.CANCELLED,
                                message=f"cancelled: its Ray actor on {where} was stopped after "
                                f"the grace period of {self.cancel_grace_s:.0f} s (the step "
                                "did not return)"):
                    self.log(f"job {job_id}: cancel forced")

    def _release(self, placed: _Placed, *, kill: bool = True) -> None:
        self.placed.pop(placed.lease.job_id, None)
        if kill:
            import ray

            try:
                ray.kill(placed.actor, no_restart=True)
            except Exception:  # noqa: BLE001 - already gone
                pass

    # -- dispatching ---------------------------------------------------------------------
    def _usage(self) -> Usage:
        usage = Usage()
        for placed in self.placed.values():
            if placed.node is not None:
                usage.add(placed.node.node_id, placed.taken)
        return usage

    def _queued_devices(self) -> list[str]:
        with transaction(self.engine) as session:
            found = session.scalars(select(Job.device).where(Job.status == states.QUEUED)
                                    .distinct()).all()
        served = cluster_devices(self.nodes, self.cpus_per_job)
        # Specific GPU types before plain "cuda", which may take any GPU.
        return sorted((d for d in found if d in served), key=lambda d: (d == "cuda", d))

    def _dispatch(self) -> None:
        for device in self._queued_devices():
            while not self.stopping:
                choice = pick_node(device, self.nodes, self._usage(), self.cpus_per_job)
                if choice is None:
                    break
                node, taken = choice
                owner = f"{OWNER_PREFIX}{node.node_id[:16]}:{os.getpid()}:{next(self._serial)}"
                lease = store.claim_next(self.engine, device, owner)
                if lease is None:
                    break
                self._launch(lease, device, node, taken)

    def _launch(self, lease: Lease, device: str, node: RayNode, taken: Demand) -> None:
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        threads = max(1, int(taken.cpus)) if taken.cpus >= 1 else 1
        try:
            actor = self._actor_class.options(
                name=actor_name(lease.job_id, lease.attempt), lifetime="detached",
                num_cpus=taken.cpus, num_gpus=taken.gpus, max_restarts=0, max_task_retries=0,
                scheduling_strategy=NodeAffinitySchedulingStrategy(node.node_id, soft=False),
            ).remote(lease.job_id, lease.attempt, lease.owner, engine_device(device),
                     database_url=self.engine.url.render_as_string(hide_password=False),
                     artifacts_dir=self.artifacts_dir, threads=threads,
                     cancel_grace_s=self.cancel_grace_s)
        except Exception as error:  # noqa: BLE001 - Ray refused it: the job says why
            store.finish(self.engine, lease, states.FAILED, error_kind="crash",
                         message=f"Ray did not accept the job: {error}")
            return
        self.placed[lease.job_id] = _Placed(lease, device, node, taken, actor)
        store.report_progress(self.engine, lease, "starting", 0.0,
                              f"attempt {lease.attempt} placed on Ray node {node.short()}")
        self.log(f"job {lease.job_id} attempt {lease.attempt} ({device}) -> {node.short()}")

    # -- the cluster's devices as worker rows ---------------------------------------------
    def _beat_nodes(self, *, force: bool = False) -> None:
        if not force and time.monotonic() - self._last_node_beat < NODE_BEAT_S:
            return
        self._last_node_beat = time.monotonic()
        moment, kept = store.now(), []
        for node in self.nodes:
            for device in node_devices(node, self.cpus_per_job):
                worker_id = f"{WORKER_PREFIX}{node.node_id[:16]}:{device}"
                kept.append(worker_id)
                if device == "cpu":
                    name = f"{node.cpus:g} CPU{'' if node.cpus == 1 else 's'} on Ray node " \
                        f"{node.short()}"
                    memory = int(node.resources.get("memory", 0)) or None
                else:
                    name = f"{node.gpus:g}x {node.gpu_type or 'GPU'} on Ray node {node.short()}"
                    memory = None
                store.register_worker(self.engine, Worker(
                    id=worker_id, host=node.name, pid=os.getpid(), device=device,
                    device_name=name[:200], memory_bytes=memory, capability=None,
                    current_job_id=None, started_at=moment, heartbeat_at=moment))
        store.forget_workers(self.engine, WORKER_PREFIX, keep=kept)

    # -- start and stop ------------------------------------------------------------------
    def reconcile(self) -> None:
        """Follow the jobs Ray still runs for this database; interrupt those it lost; stop
        actors whose job is over."""
        import ray

        self.nodes = live_nodes(ray.nodes())
        names = set(ray.util.list_named_actors())
        expected = set()
        for job in store.list_jobs(self.engine, statuses=[states.RUNNING], limit=100_000):
            if not (job.lease_owner or "").startswith(OWNER_PREFIX):
                continue
            lease = Lease(job.id, job.attempt, job.lease_owner)
            name = actor_name(job.id, job.attempt)
            if name in names:
                expected.add(name)
                node = next((n for n in self.nodes
                             if job.lease_owner.startswith(f"{OWNER_PREFIX}{n.node_id[:16]}")),
                            None)
                taken = demand(job.device, node, self.cpus_per_job) if node else Demand(0.0)
                self.placed[job.id] = _Placed(lease, job.device, node, taken,
                                              ray.get_actor(name))
                self.log(f"following job {job.id} attempt {job.attempt}, still running on Ray")
            elif store.interrupt(self.engine, lease, "Ray no longer runs it (the dispatcher "
                                 "restarted and found no actor for this attempt: its node or "
                                 "the cluster went down meanwhile)"):
                self.log(f"job {job.id} interrupted: Ray no longer runs it")
        for name in names - expected:
            if name.startswith("optatlas-job-"):
                ray.kill(ray.get_actor(name), no_restart=True)  # its job ended meanwhile

    def serve(self) -> int:
        """Connect, reconcile and dispatch until stopped (SIGTERM/SIGINT set `stopping`)."""
        self.connect()
        self.reconcile()
        self.log(f"serving {sorted(cluster_devices(self.nodes, self.cpus_per_job))} on "
                 f"{len(self.nodes)} Ray node(s)")
        try:
            while not self.stopping:
                try:
                    self.step()
                except Exception as error:  # noqa: BLE001 - a busy database or a Ray hiccup
                    self.log(f"round failed, trying again: {error}")
                time.sleep(self.poll_s)
        finally:
            self.close()
        return 0

    def close(self) -> None:
        """Forget the cluster's worker rows and leave Ray; placed jobs go on running (a
        restarted dispatcher follows them)."""
        try:
            store.forget_workers(self.engine, WORKER_PREFIX)
        except Exception:  # noqa: BLE001 - shutting down; the rows go stale anyway
            pass
        import ray

        if ray.is_initialized():
            ray.shutdown()
