"""This machine as the chooser counts hardware: memory, measured copy bandwidth and measured
dense matmul throughput per data type, cached per device in cache_dir()/machine.json.

Measured figures are what PyTorch achieved here, not datasheet peaks: the chooser shows
them as such. fp32 runs at PyTorch's default precision (no TF32 unless the user enabled it).

    python -m core.engine.machine_profile [--device cpu|cuda] [--refresh]

prints the profile as JSON on stdout (and nothing else there).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import torch

from core.engine.devices import describe, resolve_device, synchronize
from core.engine.paths import cache_dir
from core.engine.roofline import _read_cache, _write_cache, measure_bandwidth

# Square matmul sizes: start small, double while one product is predicted to stay under
# the target time, stop at the largest size. A 2-core CPU without native bf16 runs a
# 1024-square bf16 product in seconds, so the slow types stay small there.
START_SIZE = {"cpu": 256, "cuda": 1024}
LARGEST_SIZE = {"cpu": 2048, "cuda": 8192}
TARGET_S = 0.05
# Each timed repeat runs enough products to last this long, so a 1 ms GPU kernel is not
# measured against the cost of synchronizing.
REPEAT_S = 0.01
REPEATS = 3

# Compute capability (major, minor) from which a CUDA GPU has each capability.
CUDA_CAPABILITIES = {
    "int8_tensor_cores": (7, 5),
    "bf16": (8, 0),
    "sparse_2_4": (8, 0),
    "fp8": (8, 9),
    "fp4": (10, 0),
}


def measure_machine(
    device: torch.device, *, use_cache: bool = True, refresh: bool = False
) -> dict:
    """The profile of the hardware behind `device`, a JSON-able dict; cached per device.
    `refresh` measures again and rewrites the cache; `use_cache=False` neither reads nor
    writes it."""
    device = torch.device(device)
    cache_file = cache_dir() / "machine.json"
    key = describe(device)
    if use_cache and not refresh:
        cached = _read_cache(cache_file).get(key)
        if isinstance(cached, dict):
            return cached
    profile = _measure(device, bandwidth_from_cache=use_cache and not refresh)
    if use_cache:
        _write_cache(cache_file, {**_read_cache(cache_file), key: profile})
    return profile


def _measure(device: torch.device, *, bandwidth_from_cache: bool) -> dict:
    cuda = device.type == "cuda"
    profile = {
        "description": describe(device),
        "device": str(device),
        "kind": "gpu" if cuda else "cpu",
        "memory_bytes": _memory_bytes(device),
        # The roofline's cached figure, so both show the same; a refresh measures it again.
        "bandwidth_gb_s": _significant(measure_bandwidth(device, use_cache=bandwidth_from_cache)),
        "tflops": {},
        "matmul_size": {},
        "capabilities": sorted(_capabilities(device)),
        "torch_version": torch.__version__,
        "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    if cuda:
        major, minor = torch.cuda.get_device_capability(device)
        profile["compute_capability"] = f"{major}.{minor}"
    else:
        profile["threads"] = torch.get_num_threads()
        limit = _cgroup_memory_limit()
        if limit is not None and limit < profile["memory_bytes"]:
            profile["memory_limit_bytes"] = limit
    for dtype, product in _products(device).items():
        try:
            tflops, size = _matmul_tflops(product, device)
        except (RuntimeError, TypeError, NotImplementedError):
            continue  # no such kernel on this device or in this PyTorch: no figure
        profile["tflops"][dtype] = _significant(tflops)
        profile["matmul_size"][dtype] = size
    return profile


def _products(device: torch.device) -> dict:
    """For each data type measured on `device`: size -> a function running one n x n product."""
    products = {"fp32": _float_product(torch.float32, device),
                "bf16": _float_product(torch.bfloat16, device)}
    if device.type != "cuda":
        return products
    products["fp16"] = _float_product(torch.float16, device)
    products["int8"] = _int8_product(device)
    if torch.cuda.get_device_capability(device) >= CUDA_CAPABILITIES["fp8"]:
        products["fp8"] = _fp8_product(device)
    return products


def _float_product(dtype: torch.dtype, device: torch.device):
    def make(size: int):
        left = torch.randn(size, size, dtype=dtype, device=device)
        right = torch.randn(size, size, dtype=dtype, device=device)
        return lambda: torch.mm(left, right)
    return make


def _int8_product(device: torch.device):
    def make(size: int):
        left = torch.randint(-128, 128, (size, size), dtype=torch.int8, device=device)
        right = torch.randint(-128, 128, (size, size), dtype=torch.int8, device=device)
        return lambda: torch._int_mm(left, right)
    return make


def _fp8_product(device: torch.device):
    def make(size: int):
        left = torch.randn(size, size, device=device).to(torch.float8_e4m3fn)
        # _scaled_mm wants its second operand column-major.
        right = torch.randn(size, size, device=device).to(torch.float8_e4m3fn).t()
        one = torch.tensor(1.0, device=device)
        return lambda: torch._scaled_mm(left, right, scale_a=one, scale_b=one,
                                        out_dtype=torch.bfloat16)
    return make


def _matmul_tflops(make, device: torch.device) -> tuple[float, int]:
    """Best throughput of a square product, in TFLOPS (2 n^3 operations), and its size n."""
    size = START_SIZE[device.type]
    run = make(size)
    seconds = _time_once(run, device)
    while size < LARGEST_SIZE[device.type] and seconds * 8 <= TARGET_S:
        size *= 2
        run = make(size)
        seconds = _time_once(run, device)
    inner = max(1, math.ceil(REPEAT_S / max(seconds, 1e-9)))
    best = seconds
    for _ in range(REPEATS):
        start = time.perf_counter()
        for _ in range(inner):
            run()
        synchronize(device)
        best = min(best, (time.perf_counter() - start) / inner)
    return 2 * size**3 / best / 1e12, size


def _significant(value: float) -> float:
    # Four significant digits: repeats of a measurement differ in the second or third.
    return float(f"{value:.4g}")


def _time_once(run, device: torch.device) -> float:
    run()  # the first call at a size allocates and picks kernels
    synchronize(device)
    start = time.perf_counter()
    run()
    synchronize(device)
    return time.perf_counter() - start


def _memory_bytes(device: torch.device) -> int:
    """The device's memory: a GPU's own, or the host's physical RAM for the CPU."""
    if device.type == "cuda":
        return torch.cuda.get_device_properties(device).total_memory
    return physical_memory_bytes()


def physical_memory_bytes() -> int:
    """Physical RAM of this host, in bytes."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        with open("/proc/meminfo", encoding="utf-8") as meminfo:
            for line in meminfo:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    raise OSError("cannot tell this machine's physical memory")


def _cgroup_memory_limit() -> int | None:
    # A container may hold less than the host's RAM: cgroup v2, then v1. "max" or a
    # v1 sentinel near 2^63 means no limit.
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = Path(path).read_text().strip()
        except OSError:
            continue
        if text.isdigit() and int(text) < 2**60:
            return int(text)
    return None


def cuda_capabilities(compute_capability: tuple[int, int]) -> set[str]:
    """What a CUDA GPU of this compute capability can do, as the chooser names it."""
    return {name for name, first in CUDA_CAPABILITIES.items() if compute_capability >= first}


def _capabilities(device: torch.device) -> set[str]:
    if device.type == "cuda":
        return cuda_capabilities(torch.cuda.get_device_capability(device))
    return {"bf16"} if cpu_has_native_bf16() else set()


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes in bf16 natively (AVX512-BF16, AMX, or Arm's BF16)."""
    hint = torch.backends.cpu.get_cpu_capability().upper()
    if "BF16" in hint or "AMX" in hint:
        return True
    for check in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"):
        probe = getattr(torch.cpu, check, None)
        if probe is not None and probe():
            return True
    return _cpu_flags() & {"avx512_bf16", "amx_bf16", "bf16"} != set()


def _cpu_flags() -> set[str]:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith(("flags", "Features")):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def main(argv: list[str] | None = None) -> int:
    """Measure (or read the cached profile of) a device and print it as JSON on stdout."""
    parser = argparse.ArgumentParser(prog="python -m core.engine.machine_profile",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda if present)")
    parser.add_argument("--refresh", action="store_true", help="measure again, ignore the cache")
    args = parser.parse_args(argv)
    try:
        device = resolve_device(args.device)
    except (ValueError, RuntimeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    profile = measure_machine(device, refresh=args.refresh)
    print(json.dumps(profile, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
