"""A Ray cluster's nodes as worker rows: one per node and device it serves, so the Launch
page offers the cluster's devices ("1x H100 on Ray node 10.0.0.3 (5f0c1a2b)") and the
launch check knows what is served, as it does for local workers."""

from __future__ import annotations

import os
from collections.abc import Iterable

from sqlalchemy import Engine, delete

from core.jobs import store
from core.jobs.ray_placement import RayNode, node_devices
from db.engine import transaction
from db.job_models import Worker

# Worker rows the Ray executor writes start with this (local workers' ids are host:pid:...).
WORKER_PREFIX = "ray:"


def node_rows(nodes: Iterable[RayNode], cpus_per_job: float) -> list[Worker]:
    """The worker rows of `nodes`: one per node and device it serves."""
    moment, rows = store.now(), []
    for node in nodes:
        for device in node_devices(node, cpus_per_job):
            if device == "cpu":
                name = f"{node.cpus:g} CPU{'' if node.cpus == 1 else 's'} on Ray node " \
                    f"{node.short()}"
                memory = int(node.resources.get("memory", 0)) or None
            else:
                name = f"{node.gpus:g}x {node.gpu_type or 'GPU'} on Ray node {node.short()}"
                memory = None
            rows.append(Worker(
                id=f"{WORKER_PREFIX}{node.node_id[:16]}:{device}", host=node.name[:200],
                pid=os.getpid(), device=device, device_name=name[:200], memory_bytes=memory,
                capability=None, current_job_id=None, started_at=moment, heartbeat_at=moment))
    return rows


def record_nodes(engine: Engine, nodes: Iterable[RayNode], cpus_per_job: float) -> None:
    """Write the live nodes' rows and remove those of nodes that left, in one transaction."""
    rows = node_rows(nodes, cpus_per_job)
    with transaction(engine) as session:
        for row in rows:
            session.merge(row)
        session.execute(delete(Worker).where(
            Worker.id.startswith(WORKER_PREFIX, autoescape=True),
            Worker.id.not_in([row.id for row in rows])))


def forget_nodes(engine: Engine) -> None:
    """Remove every Ray node's rows (the executor is stopping)."""
    record_nodes(engine, [], 1.0)
