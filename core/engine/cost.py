"""The cost of compressing: wall time of the compression steps themselves."""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from core.engine.devices import synchronize


@dataclass
class Stopwatch:
    """Times a block, waiting for the device before and after so queued work is counted.

        with Stopwatch(device) as watch:
            apply_recipe(model)
        metrics["compression_s"] = watch.seconds
    """

    device: torch.device
    seconds: float = 0.0

    def __enter__(self) -> Stopwatch:
        synchronize(self.device)
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        synchronize(self.device)
        self.seconds = time.perf_counter() - self._start
