"""The Ray executor: a dispatcher that hands the database's queued jobs to a Ray cluster.

The database stays the queue and the source of truth. Jobs run in job slots
(core.jobs.ray_job): detached actors pinned to a node, each holding one job's resources there
and running the same job runner as a local worker, reused for the next job of the same shape.
Each round the dispatcher
- follows its slots: a slot that died (its worker process killed, its node removed, out of
  memory) leaves its job `interrupted` with a message naming what died; a slot whose job
  ended takes the next; a cancel the job did not honour within the grace period is forced by
  killing its slot;
- interrupts running jobs whose heartbeat went stale (a frozen process);
- claims queued jobs in the queue's fair order, one at a time, only while an idle slot fits
  the job or some node has its resources free (core.jobs.ray_placement): Ray never holds a
  queue of ours;
- stops slots that stayed idle, so a quiet cluster gets its resources back;
- records each node's devices as worker rows, so Launch offers the cluster's devices.

On start it reconciles: it takes over the slots Ray still has and follows the jobs they run;
jobs the database says run on Ray that no slot runs are interrupted.

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
from core.jobs.ray_job import NAMESPACE, SLOT_PREFIX, JobSlot, slot_name
from core.jobs.ray_nodes import forget_nodes, record_nodes
from core.jobs.ray_placement import (
    Demand,
    RayNode,
    Usage,
    cluster_devices,
    demand,
    engine_device,
    live_nodes,
    node_fits,
    pick_node,
)
from core.jobs.store import Lease
from core.jobs.worker import CANCEL_GRACE_S
from db.engine import transaction
from db.job_models import Job

POLL_S = 0.25
NODE_BEAT_S = 2.0
# The dispatcher forces a cancel this long after the job's own watchdog would have: the
# watchdog ends a step that does not return; the dispatcher, a process that does not answer.
FORCE_MARGIN_S = 5.0
OWNER_PREFIX = "ray:"
# A slot idle this long is stopped, giving its node's resources back to the cluster.
IDLE_SLOT_S = 60.0
# A slot whose job ended in the database (reaped, say) but that still runs it this long after
# is stopped: a worker that lost its lease normally stops itself within a heartbeat.
LINGER_S = 30.0
RECONCILE_ASK_S = 15.0
SLOT_BEAT_S = 5.0


@dataclass
class _Slot:
    """A job slot the dispatcher holds: its actor, where it is, what it holds there, and
    the job it runs now (None while idle)."""

    name: str
    actor: Any
    node: RayNode | None
    taken: Demand
    device: str  # the engine's device inside it: cpu or cuda
    lease: Lease | None = None
    asked: Any = None  # the outstanding state() call, if any
    idle_since: float = 0.0  # time.monotonic() when its last job ended
    ended_at: float | None = None  # when the database said its job ended
    beaten_at: float = 0.0  # when the dispatcher last beat for its job

    def where(self) -> str:
        return f"Ray node {self.node.short()}" if self.node else "its Ray node"


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
    """Places queued jobs on a Ray cluster's job slots and follows them to their end."""

    def __init__(self, engine: Engine, *, address: str | None = None,
                 cpus_per_job: float = 1.0, artifacts_dir: str | None = None,
                 cancel_grace_s: float = CANCEL_GRACE_S,
                 stale_after_s: float = store.DEFAULT_STALE_AFTER_S,
                 idle_slot_s: float = IDLE_SLOT_S, poll_s: float = POLL_S) -> None:
        if cpus_per_job <= 0:
            raise ValueError("cpus_per_job must be more than 0")
        self.engine, self.address = engine, address
        self.cpus_per_job, self.artifacts_dir = cpus_per_job, artifacts_dir
        self.cancel_grace_s, self.stale_after_s = cancel_grace_s, stale_after_s
        self.idle_slot_s, self.poll_s = idle_slot_s, poll_s
        self.slots: dict[str, _Slot] = {}
        self.nodes: list[RayNode] = []
        self.stopping = False
        self._serial = itertools.count(1)
        self._last_node_beat = 0.0
        self._slot_class = None

    # -- connecting ----------------------------------------------------------------------
    def connect(self) -> None:
        """Join the Ray cluster at `address` (a local one when None and none runs)."""
        import ray

        if not ray.is_initialized():
            ray.init(address=self.address, namespace=NAMESPACE, log_to_driver=False,
                     configure_logging=False)
        if self._slot_class is None:
            self._slot_class = ray.remote(JobSlot)

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
        self._stop_idle_slots()

    def _follow(self) -> None:
        """Ask every slot how it is; a dead one interrupts its job, a finished job frees it."""
        import ray

        for slot in self.slots.values():
            if slot.asked is None:
                slot.asked = slot.actor.state.remote()
        asked = {slot.asked: slot for slot in self.slots.values()}
        if not asked:
            return
        ready, _ = ray.wait(list(asked), num_returns=len(asked), timeout=0)
        for ref in ready:
            slot = asked[ref]
            slot.asked = None
            try:
                state = ray.get(ref)
            except ray.exceptions.RayError as error:
                self._slot_died(slot, error)
                continue
            lease = slot.lease
            if lease is None or tuple(state["job"] or ()) != (lease.job_id, lease.attempt,
                                                              lease.owner):
                continue
            if not state["done"]:
                # The slot answers, so its process lives: beat for the job while it starts
                # (a new slot loads torch and the engine before the job's watchdog beats).
                if time.monotonic() - slot.beaten_at > SLOT_BEAT_S:
                    store.heartbeat(self.engine, lease)
                    slot.beaten_at = time.monotonic()
                continue
            if state["error"]:
                store.finish(self.engine, lease, states.FAILED, error_kind="crash",
                             message=f"the job could not start on {slot.where()}: "
                             f"{state['error']}")
            slot.lease, slot.ended_at = None, None
            slot.idle_since = time.monotonic()

    def _slot_died(self, slot: _Slot, error: BaseException) -> None:
        self.slots.pop(slot.name, None)
        if slot.lease is None:
            self.log(f"idle slot {slot.name} is gone: {death_reason(error, slot.node)}")
            return
        why = death_reason(error, slot.node)
        if store.interrupt(self.engine, slot.lease, why):
            self.log(f"job {slot.lease.job_id} interrupted: {why}")

    def _check_rows(self) -> None:
        """Notice jobs that ended in the database under a slot that still runs them (stop
        the slot when it lingers); force cancels past their grace period."""
        busy = {slot.lease.job_id: slot for slot in self.slots.values() if slot.lease}
        if not busy:
            return
        with transaction(self.engine) as session:
            rows = session.execute(
                select(Job.id, Job.status, Job.attempt, Job.lease_owner,
                       Job.cancel_requested_at).where(Job.id.in_(list(busy)))
            ).all()
        by_id = {row.id: row for row in rows}
        force_after = timedelta(seconds=self.cancel_grace_s + FORCE_MARGIN_S)
        for job_id, slot in busy.items():
            row = by_id.get(job_id)
            if row is None or row.status != states.RUNNING or \
                    (row.attempt, row.lease_owner) != (slot.lease.attempt, slot.lease.owner):
                # Ended, reaped or retried: the slot's thread ends with it in a moment (a
                # worker that lost its lease stops itself); one that lingers is stopped.
                slot.ended_at = slot.ended_at or time.monotonic()
                if time.monotonic() - slot.ended_at > LINGER_S:
                    self._stop_slot(slot)
                continue
            asked_at = store.as_utc(row.cancel_requested_at)
            if asked_at is not None and store.now() - asked_at > force_after:
                lease = slot.lease
                self._stop_slot(slot)
                if store.finish(self.engine, lease, states.CANCELLED,
                                message=f"cancelled: its Ray actor on {slot.where()} was "
                                f"stopped after the grace period of {self.cancel_grace_s:.0f} "
                                "s (the step did not return)"):
                    self.log(f"job {job_id}: cancel forced")

    def _stop_slot(self, slot: _Slot) -> None:
        import ray

        self.slots.pop(slot.name, None)
        try:
            ray.kill(slot.actor, no_restart=True)
        except Exception:  # noqa: BLE001 - already gone
            pass

    def _stop_idle_slots(self, *, all_idle: bool = False) -> None:
        """Give back the resources of slots that stayed idle (all of them when stopping)."""
        moment = time.monotonic()
        for slot in list(self.slots.values()):
            if slot.lease is None and (all_idle or moment - slot.idle_since > self.idle_slot_s):
                self._stop_slot(slot)

    # -- dispatching ---------------------------------------------------------------------
    def _usage(self, without: _Slot | None = None) -> Usage:
        usage = Usage()
        for slot in self.slots.values():
            if slot.node is not None and slot is not without:
                usage.add(slot.node.node_id, slot.taken)
        return usage

    def _queued_devices(self) -> list[str]:
        with transaction(self.engine) as session:
            found = session.scalars(select(Job.device).where(Job.status == states.QUEUED)
                                    .distinct()).all()
        served = cluster_devices(self.nodes, self.cpus_per_job)
        # Specific GPU types before plain "cuda", which may take any GPU.
        return sorted((d for d in found if d in served), key=lambda d: (d == "cuda", d))

    def _plan(self, device: str) -> tuple[_Slot | None, tuple[RayNode, Demand] | None,
                                             _Slot | None]:
        """Where the next job of `device` goes: an idle slot that fits it; else a new slot
        on a node with room; else a new one in place of an idle slot of another shape.
        Returns (slot to reuse, (node, demand) of a new slot, idle slot to stop first)."""
        live = {node.node_id for node in self.nodes}
        idle = [slot for slot in self.slots.values() if slot.lease is None
                and slot.node is not None and slot.node.node_id in live]
        for slot in sorted(idle, key=lambda s: s.idle_since):
            if slot.device == engine_device(device) and node_fits(device, slot.node) and \
                    slot.taken == demand(device, slot.node, self.cpus_per_job):
                return slot, None, None
        choice = pick_node(device, self.nodes, self._usage(), self.cpus_per_job)
        if choice is not None:
            return None, choice, None
        for slot in sorted(idle, key=lambda s: s.idle_since):
            choice = pick_node(device, [slot.node], self._usage(without=slot),
                               self.cpus_per_job)
            if choice is not None:
                return None, choice, slot
        return None, None, None

    def _dispatch(self) -> None:
        for device in self._queued_devices():
            while not self.stopping:
                reuse, new, replace = self._plan(device)
                if reuse is None and new is None:
                    break
                node = reuse.node if reuse else new[0]
                owner = f"{OWNER_PREFIX}{node.node_id[:16]}:{os.getpid()}:{next(self._serial)}"
                lease = store.claim_next(self.engine, device, owner)
                if lease is None:
                    break
                if replace is not None:
                    self._stop_slot(replace)
                slot = reuse or self._new_slot(lease, device, *new)
                if slot is not None:
                    self._start(slot, lease, device)

    def _new_slot(self, lease: Lease, device: str, node: RayNode,
                  taken: Demand) -> _Slot | None:
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        name = slot_name(node.node_id)
        try:
            actor = self._slot_class.options(
                name=name, lifetime="detached", num_cpus=taken.cpus, num_gpus=taken.gpus,
                max_restarts=0, max_task_retries=0,
                scheduling_strategy=NodeAffinitySchedulingStrategy(node.node_id, soft=False),
            ).remote(engine_device(device), cpus=taken.cpus, gpus=taken.gpus,
                     database_url=self.engine.url.render_as_string(hide_password=False),
                     artifacts_dir=self.artifacts_dir, cancel_grace_s=self.cancel_grace_s)
        except Exception as error:  # noqa: BLE001 - Ray refused it: the job says why
            store.finish(self.engine, lease, states.FAILED, error_kind="crash",
                         message=f"Ray did not accept the job: {error}")
            return None
        slot = _Slot(name, actor, node, taken, engine_device(device))
        self.slots[name] = slot
        return slot

    def _start(self, slot: _Slot, lease: Lease, device: str) -> None:
        # Calls to one actor run in the order they were made: `start` runs before any later
        # `state`, which therefore reports this job.
        slot.actor.start.remote(lease.job_id, lease.attempt, lease.owner)
        slot.lease, slot.ended_at = lease, None
        store.report_progress(self.engine, lease, "starting", 0.0,
                              f"attempt {lease.attempt} placed on {slot.where()}")
        self.log(f"job {lease.job_id} attempt {lease.attempt} ({device}) -> {slot.where()}")

    def _beat_nodes(self) -> None:
        if time.monotonic() - self._last_node_beat >= NODE_BEAT_S:
            record_nodes(self.engine, self.nodes, self.cpus_per_job)
            self._last_node_beat = time.monotonic()

    # -- start and stop ------------------------------------------------------------------
    def reconcile(self) -> None:
        """Take over the slots Ray still has: follow the jobs they run, keep the idle ones;
        interrupt the jobs the database says run on Ray that no slot runs."""
        import ray

        self.nodes = live_nodes(ray.nodes())
        nodes = {node.node_id: node for node in self.nodes}
        asked = {}
        for name in ray.util.list_named_actors():
            if name.startswith(SLOT_PREFIX):
                actor = ray.get_actor(name)
                asked[name] = (actor, actor.state.remote())
        running = {}
        for name, (actor, ref) in asked.items():
            try:
                state = ray.get(ref, timeout=RECONCILE_ASK_S)
            except Exception as error:  # noqa: BLE001 - dying or unreachable: let it go
                self.log(f"slot {name} does not answer ({type(error).__name__}); stopping it")
                ray.kill(actor, no_restart=True)
                continue
            slot = _Slot(name, actor, nodes.get(state["node_id"]),
                         Demand(state["cpus"], state["gpus"]), state["device"],
                         idle_since=time.monotonic())
            self.slots[name] = slot
            if state["job"] and not state["done"]:
                running[tuple(state["job"])] = slot
        for job in store.list_jobs(self.engine, statuses=[states.RUNNING], limit=100_000):
            if not (job.lease_owner or "").startswith(OWNER_PREFIX):
                continue
            lease = Lease(job.id, job.attempt, job.lease_owner)
            slot = running.get((job.id, job.attempt, job.lease_owner))
            if slot is not None:
                slot.lease = lease
                self.log(f"following job {job.id} attempt {job.attempt}, still running on Ray")
            elif store.interrupt(self.engine, lease, "Ray no longer runs it (the dispatcher "
                                 "restarted and found no slot running this attempt: its node "
                                 "or the cluster went down meanwhile)"):
                self.log(f"job {job.id} interrupted: Ray no longer runs it")

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
        """Give back idle slots, forget the cluster's worker rows and leave Ray; running
        jobs go on (a restarted dispatcher follows them)."""
        try:
            self._stop_idle_slots(all_idle=True)
            forget_nodes(self.engine)
        except Exception:  # noqa: BLE001 - shutting down; the rows go stale anyway
            pass
        import ray

        if ray.is_initialized():
            ray.shutdown()
