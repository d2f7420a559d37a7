"""The machine profile: memory, measured bandwidth and matmul throughput of this machine's
CPU, cached per device (OPTATLAS_HOME is the test's own, see tests/conftest.py)."""

from __future__ import annotations

import json

import pytest
import torch

from core.engine import machine_profile
from core.engine.machine_profile import (
    cuda_capabilities,
    measure_machine,
    physical_memory_bytes,
)
from core.engine.paths import cache_dir


def _refuse(*args, **kwargs):
    raise AssertionError("measured again instead of reading the cache")


def test_the_cpu_is_measured_once_and_then_read_from_the_cache(monkeypatch):
    profile = measure_machine(torch.device("cpu"))

    assert profile["kind"] == "cpu" and profile["device"] == "cpu"
    assert profile["memory_bytes"] == physical_memory_bytes() > 2**28
    assert profile["bandwidth_gb_s"] > 0.1
    assert profile["tflops"]["fp32"] > 0.001
    assert set(profile["tflops"]) == {"fp32", "bf16"} == set(profile["matmul_size"])
    assert all(value > 0 for value in profile["tflops"].values())
    assert set(profile["capabilities"]) <= {"bf16"}
    assert profile["torch_version"] == torch.__version__
    assert profile["measured_at"][:2] == "20"
    assert json.loads(json.dumps(profile)) == profile

    cached = json.loads((cache_dir() / "machine.json").read_text())
    assert cached == {profile["description"]: profile}
    monkeypatch.setattr(machine_profile, "_measure", _refuse)
    assert measure_machine(torch.device("cpu")) == profile
    with pytest.raises(AssertionError, match="measured again"):
        measure_machine(torch.device("cpu"), refresh=True)


def test_without_the_cache_nothing_is_read_or_written(monkeypatch):
    def fake(device, *, bandwidth_from_cache):
        return {"kind": "cpu", "fake": True}

    monkeypatch.setattr(machine_profile, "_measure", fake)
    assert measure_machine(torch.device("cpu"), use_cache=False) == {"kind": "cpu", "fake": True}
    assert not (cache_dir() / "machine.json").exists()


def test_a_refresh_replaces_only_its_own_device(monkeypatch):
    path = cache_dir() / "machine.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"Some GPU": {"kind": "gpu"}}))
    monkeypatch.setattr(machine_profile, "describe", lambda device: "The CPU")
    monkeypatch.setattr(machine_profile, "_measure",
                        lambda device, *, bandwidth_from_cache: {"kind": "cpu"})
    measure_machine(torch.device("cpu"), refresh=True)
    assert json.loads(path.read_text()) == {"Some GPU": {"kind": "gpu"}, "The CPU": {"kind": "cpu"}}


def test_cuda_capabilities_follow_the_compute_capability():
    assert cuda_capabilities((7, 0)) == set()
    assert cuda_capabilities((7, 5)) == {"int8_tensor_cores"}
    assert cuda_capabilities((8, 0)) == {"int8_tensor_cores", "bf16", "sparse_2_4"}
    assert cuda_capabilities((8, 9)) == {"int8_tensor_cores", "bf16", "sparse_2_4", "fp8"}
    assert cuda_capabilities((9, 0)) == cuda_capabilities((8, 9))
    assert "fp4" in cuda_capabilities((10, 0)) and "fp4" in cuda_capabilities((12, 0))


def test_the_command_prints_only_the_json_profile(capsys):
    path = cache_dir() / "machine.json"
    path.parent.mkdir(parents=True)
    description = machine_profile.describe(torch.device("cpu"))
    path.write_text(json.dumps({description: {"kind": "cpu", "tflops": {"fp32": 0.1}}}))
    assert machine_profile.main(["--device", "cpu"]) == 0
    assert json.loads(capsys.readouterr().out) == {"kind": "cpu", "tflops": {"fp32": 0.1}}


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_the_gpu_is_measured_with_its_own_memory_and_capabilities():
    profile = measure_machine(torch.device("cuda"), use_cache=False)
    assert profile["kind"] == "gpu"
    assert profile["memory_bytes"] == torch.cuda.get_device_properties(0).total_memory
    assert {"fp32", "bf16", "fp16"} <= set(profile["tflops"])
    assert profile["tflops"]["bf16"] > profile["tflops"]["fp32"] > 0.1
    major, minor = torch.cuda.get_device_capability()
    assert set(profile["capabilities"]) == cuda_capabilities((major, minor))
