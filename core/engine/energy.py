"""Energy from NVML's cumulative counter, where the device is an NVIDIA GPU and NVML answers."""

from __future__ import annotations

import torch


class EnergyMeter:
    """Reads a GPU's total energy counter in joules; `available` is False where it cannot.

    The GPU is found by UUID (or PCI bus id), never by index: CUDA's device numbering and
    NVML's differ under CUDA_VISIBLE_DEVICES and CUDA's fastest-first ordering.
    """

    def __init__(self, device: torch.device) -> None:
        self._nvml = None
        self._handle = None
        if device.type != "cuda":
            return
        try:
            import pynvml

            pynvml.nvmlInit()
            self._nvml = pynvml
            self._handle = _find_handle(pynvml, torch.cuda.get_device_properties(device))
            self.read()
        except Exception:  # no library, no driver, no counter on this GPU: energy unknown
            self.close()

    @property
    def available(self) -> bool:
        """True when the counter can be read."""
        return self._handle is not None

    def read(self) -> float:
        """The counter now, in joules."""
        return self._nvml.nvmlDeviceGetTotalEnergyConsumption(self._handle) / 1000

    def close(self) -> None:
        """Release NVML."""
        if self._nvml is not None:
            try:
                self._nvml.nvmlShutdown()
            except Exception:  # already shut down or never fully started
                pass
        self._nvml = self._handle = None


def _find_handle(pynvml, properties):
    uuid = getattr(properties, "uuid", None)
    if uuid is not None:
        text = str(uuid)
        return pynvml.nvmlDeviceGetHandleByUUID(text if text.startswith("GPU-") else f"GPU-{text}")
    bus_id = (
        f"{properties.pci_domain_id:08x}:{properties.pci_bus_id:02x}:"
        f"{properties.pci_device_id:02x}.0"
    )
    return pynvml.nvmlDeviceGetHandleByPciBusId_v2(bus_id)
