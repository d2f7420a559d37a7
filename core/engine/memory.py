"""Memory and size: peak device memory while measuring, bytes as stored, bytes on disk."""

from __future__ import annotations

import threading
from pathlib import Path

import psutil
import torch


class PeakMemory:
    """Peak CUDA memory (the allocator's peak reservation, which is what the device loses to
    this process apart from its context) or peak process RSS (sampled) inside a block."""

    def __init__(self, device: torch.device, interval_s: float = 0.005) -> None:
        self.device = device
        self.interval_s = interval_s
        self.peak_bytes = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _sample(self) -> None:
        process = psutil.Process()
        while not self._stop.is_set():
            self.peak_bytes = max(self.peak_bytes, process.memory_info().rss)
            self._stop.wait(self.interval_s)

    def __enter__(self) -> PeakMemory:
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
        else:
            self.peak_bytes = psutil.Process().memory_info().rss
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.device.type == "cuda":
            self.peak_bytes = torch.cuda.max_memory_reserved(self.device)
        else:
            self._stop.set()
            self._thread.join()
            self.peak_bytes = max(self.peak_bytes, psutil.Process().memory_info().rss)


def _tensor_storage_bytes(tensor: torch.Tensor, seen: set) -> int:
    # Packed formats are tensor subclasses holding their real (packed) data in inner tensors.
    if hasattr(tensor, "__tensor_flatten__") and type(tensor) is not torch.Tensor:
        names, _ = tensor.__tensor_flatten__()
        inner = (getattr(tensor, name) for name in names)
        # Optional parts (a transposed copy some formats keep only once used) may be None.
        return sum(_tensor_storage_bytes(part, seen) for part in inner if part is not None)
    if tensor.device.type == "meta":
        return 0
    key = (tensor.untyped_storage().data_ptr(), tensor.device)
    if key in seen:  # tied weights share storage: count them once
        return 0
    seen.add(key)
    return tensor.untyped_storage().nbytes()


def storage_bytes(tensors) -> int:
    """Bytes of the storage behind `tensors`: packed formats counted packed, shared storage once."""
    seen: set = set()
    return sum(
        _tensor_storage_bytes(t.data if isinstance(t, torch.nn.Parameter) else t, seen)
        for t in tensors
    )


# Some packed formats keep part of their data beside the parameter rather than inside it:
# bitsandbytes' 4-bit weights carry a `quant_state` (block scales, code table, and the nested
# state of double quantization), its int8 weights their row scales `SCB` (on the parameter
# before the first forward, on the layer's `state` after).
_SIDE_ATTRIBUTES = ("quant_state", "SCB")


def _tensors_within(value, depth: int = 0):
    """Tensors held by a side-state object, its nested states included."""
    if isinstance(value, torch.Tensor):
        yield value
    elif depth < 3 and hasattr(value, "__dict__") and not isinstance(value, torch.nn.Module):
        for inner in vars(value).values():
            yield from _tensors_within(inner, depth + 1)


def _side_tensors(module: torch.nn.Module) -> list[torch.Tensor]:
    found = []
    for holder in [*module.parameters(), *(getattr(m, "state", None) for m in module.modules())]:
        for attribute in _SIDE_ATTRIBUTES:
            found += _tensors_within(getattr(holder, attribute, None))
    return found


def stored_bytes(module: torch.nn.Module) -> int:
    """Bytes of all parameters and buffers as stored (and of the state packed formats keep
    beside them), shared storage counted once."""
    return storage_bytes(list(module.parameters()) + list(module.buffers()) + _side_tensors(module))


def disk_bytes(path: Path) -> int:
    """Total size of the files of a saved model (a file or a folder)."""
    path = Path(path)
    if path.is_file():
        return path.stat().st_size
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
