"""Which device and dtype a measurement runs on, and how to wait for it."""

from __future__ import annotations

import platform

import torch

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def resolve_device(name: str | None = None) -> torch.device:
    """`name` if given ("cpu", "cuda", "cuda:1"), else CUDA when available, else CPU."""
    if name in (None, "", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} was asked for, but this machine has no CUDA GPU")
    return device


def resolve_dtype(name: str) -> torch.dtype:
    """A dtype from its name; the message lists the choices."""
    try:
        return DTYPES[name]
    except KeyError:
        raise ValueError(f"dtype {name!r} is not one of {', '.join(DTYPES)}") from None


def synchronize(device: torch.device) -> None:
    """Wait until queued work on `device` is done, so timings measure the work itself."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def describe(device: torch.device) -> str:
    """A human-readable name of the hardware behind `device`."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    processor = _cpu_model() or platform.processor() or platform.machine()
    return f"{processor} ({torch.get_num_threads()} threads)"


def _cpu_model() -> str | None:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        return None
    return None
