"""Energy per token from NVML, where the device is an NVIDIA GPU and NVML answers."""

from __future__ import annotations

from collections.abc import Callable

import torch


def energy_joules(device: torch.device, operation: Callable[[], object]) -> float | None:
    """Joules the GPU drew while `operation` ran, or None where NVML cannot say."""
    if device.type != "cuda":
        return None
    try:
        import pynvml
    except ImportError:
        return None
    try:
        pynvml.nvmlInit()
        handle = pynvml.nvmlDeviceGetHandleByIndex(device.index or 0)
        before = pynvml.nvmlDeviceGetTotalEnergyConsumption(handle)  # millijoules
        operation()
        torch.cuda.synchronize(device)
        after = pynvml.nvmlDeviceGetTotalEnergyConsumption(handle)
        return (after - before) / 1000
    except pynvml.NVMLError:
        return None
    finally:
        try:
            pynvml.nvmlShutdown()
        except Exception:  # shutting down a library that never started is not an error
            pass
