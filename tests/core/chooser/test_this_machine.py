"""This machine as a chooser device: measured once by the engine in a subprocess, then read
from the engine's cache without one; failures say what to do."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from core.chooser import this_machine as module
from core.chooser.this_machine import (
    MachineProfileError,
    cache_file,
    device_from_profile,
    this_machine,
)

REPO_ROOT = Path(__file__).resolve().parents[3]

CPU_PROFILE = {
    "description": "Some CPU (8 threads)", "device": "cpu", "kind": "cpu",
    "memory_bytes": 64 * 2**30, "bandwidth_gb_s": 40.0,
    "tflops": {"fp32": 0.5, "bf16": 0.02}, "matmul_size": {"fp32": 1024, "bf16": 256},
    "capabilities": [], "torch_version": "2.5.0", "measured_at": "2026-01-02T03:04:05+00:00",
    "threads": 8,
}
GPU_PROFILE = {
    "description": "NVIDIA H100 80GB HBM3", "device": "cuda", "kind": "gpu",
    "memory_bytes": 85_045_510_144, "bandwidth_gb_s": 2900.0,
    "tflops": {"fp32": 51.0, "bf16": 700.0, "fp16": 710.0, "int8": 1300.0, "fp8": 1200.0},
    "capabilities": ["bf16", "fp8", "int8_tensor_cores", "sparse_2_4"],
    "compute_capability": "9.0", "torch_version": "2.5.0",
    "measured_at": "2026-01-01T00:00:00+00:00",
}


def _write_cache(profiles: dict) -> None:
    cache_file().parent.mkdir(parents=True, exist_ok=True)
    cache_file().write_text(json.dumps({entry["description"]: entry for entry in profiles}))


def _no_subprocess(*args, **kwargs):
    raise AssertionError("started a subprocess instead of reading the cache")


def test_the_engine_measures_this_machine_in_a_subprocess_once(monkeypatch):
    device = this_machine()

    assert device.key == "this-machine" and device.measured and device.kind == "cpu"
    assert device.name.startswith("This machine (")
    expected = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    assert device.extra["memory_bytes"] == expected
    assert device.memory_bytes <= expected
    assert device.bandwidth_gb_s > 0.1 and device.peak_tflops("fp32") > 0.001
    assert "Measured by OptAtlas's engine on 20" in device.sources[0].title
    assert "not peak" in device.note
    # The engine cached it: the next call answers from the file.
    assert cache_file().exists()
    monkeypatch.setattr(module.subprocess, "run", _no_subprocess)
    assert this_machine() == device


def test_the_cache_is_read_without_a_subprocess_and_prefers_the_gpu(monkeypatch):
    monkeypatch.setattr(module.subprocess, "run", _no_subprocess)
    _write_cache([CPU_PROFILE, GPU_PROFILE])
    device = this_machine()
    assert device.name == "This machine (NVIDIA H100 80GB HBM3)" and device.kind == "gpu"
    assert device.memory_gib == pytest.approx(79.2, abs=0.1)
    assert device.bandwidth_gb_s == 2900.0 and device.peak_tflops("fp8") == 1200.0
    assert device.has("fp8") and not device.has("fp4")
    assert device.sources[0].title.startswith("Measured by OptAtlas's engine on 2026-01-01")
    assert device.extra["compute_capability"] == "9.0"

    _write_cache([CPU_PROFILE])
    device = this_machine()
    assert device.kind == "cpu" and device.memory_gib == 64.0 and device.capabilities == set()


def test_a_container_limit_below_the_ram_is_the_memory():
    device = device_from_profile({**CPU_PROFILE, "memory_limit_bytes": 8 * 2**30})
    assert device.memory_gib == 8.0 and device.extra["memory_bytes"] == 64 * 2**30


def test_a_broken_cache_says_to_measure_again(monkeypatch):
    monkeypatch.setattr(module.subprocess, "run", _no_subprocess)
    cache_file().parent.mkdir(parents=True)
    cache_file().write_text("{not json")
    with pytest.raises(MachineProfileError, match="cannot be read.*measure this machine again"):
        this_machine()
    _write_cache([{**CPU_PROFILE, "tflops": None}])
    with pytest.raises(MachineProfileError, match="incomplete or malformed"):
        this_machine()


def _fake_run(returncode=0, stdout="", stderr=""):
    def run(command, **kwargs):
        assert command[1:3] == ["-m", "core.engine.machine_profile"]
        return subprocess.CompletedProcess(command, returncode, stdout, stderr)
    return run


def test_a_failing_measurement_gives_its_last_error_line(monkeypatch):
    stderr = "Traceback (most recent call last):\n  File ...\nRuntimeError: CUDA error: busy\n"
    monkeypatch.setattr(module.subprocess, "run", _fake_run(1, stderr=stderr))
    with pytest.raises(MachineProfileError) as raised:
        this_machine(refresh=True)
    assert str(raised.value) == ("measuring this machine failed (exit status 1): "
                                 "RuntimeError: CUDA error: busy")


def test_a_measurement_that_prints_no_json_or_times_out_is_an_error(monkeypatch):
    monkeypatch.setattr(module.subprocess, "run", _fake_run(0, stdout="warming up\n"))
    with pytest.raises(MachineProfileError, match="other than a JSON profile.*warming up"):
        this_machine()

    def slow(command, **kwargs):
        raise subprocess.TimeoutExpired(command, kwargs["timeout"])

    monkeypatch.setattr(module.subprocess, "run", slow)
    with pytest.raises(MachineProfileError, match="longer than 5 s"):
        this_machine(timeout_s=5)
