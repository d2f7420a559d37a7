"""What a user asks the chooser: the model, the hardware (a device and how many), the
workload, the goal, the quality tolerance and the budgets. Validated at construction, so
the page and the CLI show the same messages for the same mistakes."""

from __future__ import annotations

from dataclasses import dataclass

from core.chooser.hardware import Device
from core.chooser.models import ChooserModel
from core.chooser.rules import ENGINES, GOALS

TOLERANCES = ("lossless", "small", "some")
MAX_DEVICES = 64
MAX_BATCH = 4096
MAX_TOKENS = 1_048_576
MAX_GPU_HOURS = 1_000_000


class InvalidQuery(ValueError):
    """A question the chooser cannot answer as asked; the message says what to change."""


@dataclass(frozen=True)
class Hardware:
    """`count` identical devices serving one model (tensor parallel when more than one)."""

    device: Device
    count: int = 1

    @property
    def memory_bytes(self) -> int:
        return self.device.memory_bytes * self.count

    @property
    def bandwidth_bytes_s(self) -> float:
        return self.device.bandwidth_gb_s * 1e9 * self.count

    def flops_s(self, dtype: str) -> float:
        """Peak dense throughput for `dtype`. 16-bit float products run on the fastest float
        path the device has (a CPU without native bf16 multiplies in fp32, as its kernels do);
        a type the device lacks falls back the same way."""
        floats = [self.device.peak_tflops(name) or 0.0 for name in ("bf16", "fp16", "fp32")]
        own = self.device.peak_tflops(dtype) if dtype not in ("bf16", "fp16") else None
        return (own or max(floats)) * 1e12 * self.count

    def describe(self) -> str:
        return self.device.name if self.count == 1 else f"{self.count} x {self.device.name}"


@dataclass(frozen=True)
class Workload:
    """`batch` concurrent sequences, each a prompt of `prompt` tokens and `output` new ones."""

    batch: int = 1
    prompt: int = 1024
    output: int = 256

    @property
    def context(self) -> int:
        return self.prompt + self.output


@dataclass(frozen=True)
class Query:
    model: ChooserModel
    hardware: Hardware
    workload: Workload
    goal: str = "latency"
    tolerance: str = "small"
    calibration_data: bool = True
    gpu_hours: float = 8.0  # a working day on one GPU
    engine: str | None = None

    def __post_init__(self) -> None:
        problems = []
        if self.goal not in GOALS:
            problems.append(f"goal must be one of {', '.join(GOALS)}, not {self.goal!r:.40}")
        if self.tolerance not in TOLERANCES:
            problems.append(f"tolerance must be one of {', '.join(TOLERANCES)}, "
                            f"not {self.tolerance!r:.40}")
        if self.engine is not None and self.engine not in ENGINES:
            problems.append(f"engine must be one of {', '.join(ENGINES)}, not {self.engine!r:.40}")
        if not 1 <= self.hardware.count <= MAX_DEVICES:
            problems.append(f"device count must be 1 to {MAX_DEVICES}")
        workload = self.workload
        if not 1 <= workload.batch <= MAX_BATCH:
            problems.append(f"batch must be 1 to {MAX_BATCH:,}")
        if not 1 <= workload.prompt <= MAX_TOKENS or not 1 <= workload.output <= MAX_TOKENS:
            problems.append(f"prompt and output lengths must be 1 to {MAX_TOKENS:,} tokens")
        if not 0 <= self.gpu_hours <= MAX_GPU_HOURS:
            problems.append(f"GPU hours must be 0 to {MAX_GPU_HOURS:,}")
        positions = self.model.shape.max_positions
        if positions and workload.context > positions:
            problems.append(f"prompt + output is {workload.context:,} tokens; {self.model.name} "
                            f"takes at most {positions:,}")
        if problems:
            raise InvalidQuery("; ".join(problems))
