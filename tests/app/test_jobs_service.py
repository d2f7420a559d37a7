"""The Launch page's device list: each device with every machine behind it, as its live
workers describe themselves (a Ray cluster's dispatcher records one per node)."""

from __future__ import annotations

from app import jobs_service
from core.jobs import store
from db.job_models import Worker


def _worker(engine, worker_id: str, device: str, name: str) -> None:
    moment = store.now()
    store.register_worker(engine, Worker(
        id=worker_id, host="10.0.0.2", pid=1, device=device, device_name=name,
        memory_bytes=None, capability=None, current_job_id=None, started_at=moment,
        heartbeat_at=moment))


def test_devices_name_every_node_behind_them(engine):
    _worker(engine, "ray:aaaa:cpu", "cpu", "8 CPUs on Ray node 10.0.0.2 (aaaaaaaa)")
    _worker(engine, "ray:bbbb:cpu", "cpu", "16 CPUs on Ray node 10.0.0.3 (bbbbbbbb)")
    _worker(engine, "ray:bbbb:cuda@H100", "cuda@H100", "2x H100 on Ray node 10.0.0.3 (bbbb)")
    options = {option.device: option for option in jobs_service.devices()}
    assert list(options) == ["cpu", "cuda@H100"]
    assert options["cpu"].workers == 2
    assert options["cpu"].name == ("8 CPUs on Ray node 10.0.0.2 (aaaaaaaa); "
                                   "16 CPUs on Ray node 10.0.0.3 (bbbbbbbb)")
    assert options["cuda@H100"].name == "2x H100 on Ray node 10.0.0.3 (bbbb)"


def test_the_cpu_is_offered_even_with_no_worker_running(engine):
    assert [(d.device, d.workers) for d in jobs_service.devices()] == [("cpu", 0)]
