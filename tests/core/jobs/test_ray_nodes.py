"""A Ray cluster's nodes as worker rows: one per node and device, refreshed in one go, the
rows of nodes that left removed, and local workers' rows left alone."""

from __future__ import annotations

import pytest

from core.jobs import store
from core.jobs.ray_nodes import forget_nodes, record_nodes
from core.jobs.ray_placement import RayNode
from db.job_models import Worker

CPU_NODE = RayNode("c" * 56, "10.0.0.2", {"CPU": 8.0, "memory": 3e10})
T4_NODE = RayNode("g" * 56, "10.0.0.3", {"CPU": 4.0, "GPU": 1.0, "accelerator_type:T4": 1.0})


@pytest.fixture
def engine(backend_engine):
    """Every test here runs on SQLite and on PostgreSQL."""
    return backend_engine


def _rows(engine) -> dict[str, tuple[str, str]]:
    return {w.id: (w.device, w.device_name) for w in store.live_workers(engine)}


def test_each_node_has_a_row_per_device_and_a_node_that_left_loses_its_rows(engine):
    moment = store.now()
    store.register_worker(engine, Worker(  # a local worker on the same database
        id="box:12:0", host="box", pid=12, device="cpu", device_name="AMD EPYC (2 threads)",
        memory_bytes=None, capability=None, current_job_id=None, started_at=moment,
        heartbeat_at=moment))
    record_nodes(engine, [CPU_NODE, T4_NODE], cpus_per_job=2)
    assert _rows(engine) == {
        "box:12:0": ("cpu", "AMD EPYC (2 threads)"),
        "ray:cccccccccccccccc:cpu": ("cpu", "8 CPUs on Ray node 10.0.0.2 (cccccccc)"),
        "ray:gggggggggggggggg:cuda@T4": ("cuda@T4", "1x T4 on Ray node 10.0.0.3 (gggggggg)"),
        "ray:gggggggggggggggg:cpu": ("cpu", "4 CPUs on Ray node 10.0.0.3 (gggggggg)"),
    }
    record_nodes(engine, [CPU_NODE], cpus_per_job=2)  # the T4 node left the cluster
    assert sorted(_rows(engine)) == ["box:12:0", "ray:cccccccccccccccc:cpu"]
    forget_nodes(engine)
    assert sorted(_rows(engine)) == ["box:12:0"]
