"""The hardware side of the chooser: a device's memory, memory bandwidth, peak dense
throughput per data type and capabilities, read from the data file beside this module
(core/chooser/data/hardware.yaml, every figure with its source) or measured on this
machine (core.chooser.this_machine).

Units: memory in GiB (what vendors call "80GB" on an H100 is 80 GiB of HBM), bandwidth in
GB/s (10^9 bytes per second), throughput in dense TFLOPS (10^12 operations per second, no
2:4-sparsity doubling), power in watts.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from core.chooser.strict_yaml import load_unique

# Data types a device may have a peak throughput for.
DTYPES = ("fp32", "bf16", "fp16", "int8", "fp8", "int4", "fp4")
# What a candidate may need from the hardware.
CAPABILITIES = ("bf16", "int8_tensor_cores", "fp8", "fp4", "sparse_2_4")
KINDS = ("gpu", "cpu", "apple")

HARDWARE_PATH = Path(__file__).parent / "data" / "hardware.yaml"
SCHEMA_VERSION = 1
_KEY = re.compile(r"^[a-z0-9][a-z0-9-]*$")


@dataclass(frozen=True)
class Source:
    """Where a figure comes from: a vendor datasheet or a measurement."""

    title: str
    url: str = ""


@dataclass(frozen=True)
class Device:
    """One accelerator (or CPU) as the chooser counts it."""

    key: str
    name: str
    kind: str
    architecture: str
    memory_gib: float
    bandwidth_gb_s: float
    tflops: dict[str, float]
    capabilities: frozenset[str]
    power_w: float | None = None
    # Link to host memory for offloaded weights (PCIe, NVLink-C2C); None where memory is
    # unified (Apple, CPUs) or unknown.
    host_link_gb_s: float | None = None
    sources: tuple[Source, ...] = ()
    note: str = ""
    measured: bool = False
    extra: dict = field(default_factory=dict)

    @property
    def memory_bytes(self) -> int:
        return int(self.memory_gib * 2**30)

    def peak_tflops(self, dtype: str) -> float | None:
        """Dense peak throughput for `dtype`; None where the device has no such path."""
        return self.tflops.get(dtype)

    def has(self, capability: str) -> bool:
        return capability in self.capabilities


class HardwareError(ValueError):
    """The hardware data file is invalid; the message names the file, the device and the field."""


# The file's schema. Strict: a figure written as a string or a boolean is a mistake, not a number.
_Positive = Annotated[float, Field(gt=0, allow_inf_nan=False)]


class _SourceEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    title: str = Field(min_length=1)
    url: str = ""

    @field_validator("url")
    @classmethod
    def _https(cls, url: str) -> str:
        if url and not url.startswith("https://"):
            raise ValueError(f"{url!r} is not an https URL")
        return url


class _DeviceEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    key: str
    name: str = Field(min_length=1)
    kind: str
    architecture: str = Field(min_length=1)
    memory_gib: _Positive
    bandwidth_gb_s: _Positive
    tflops: dict[str, _Positive]
    capabilities: list[str] = []
    power_w: _Positive | None = None
    host_link_gb_s: _Positive | None = None
    sources: list[_SourceEntry]
    note: str = ""

    @field_validator("key")
    @classmethod
    def _key_shape(cls, key: str) -> str:
        if not _KEY.match(key):
            raise ValueError(f"{key!r} must be lowercase letters, digits and dashes")
        return key

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, kind: str) -> str:
        if kind not in KINDS:
            raise ValueError(f"{kind!r} is not one of {', '.join(KINDS)}")
        return kind

    @field_validator("tflops")
    @classmethod
    def _known_dtypes(cls, tflops: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(tflops) - set(DTYPES))
        if unknown:
            raise ValueError(f"unknown data types {unknown}; known: {', '.join(DTYPES)}")
        if "bf16" not in tflops and "fp32" not in tflops:
            raise ValueError("needs a bf16 or an fp32 figure")
        return tflops

    @field_validator("capabilities")
    @classmethod
    def _known_capabilities(cls, capabilities: list[str]) -> list[str]:
        unknown = sorted(set(capabilities) - set(CAPABILITIES))
        if unknown:
            raise ValueError(f"unknown capabilities {unknown}; known: {', '.join(CAPABILITIES)}")
        if len(set(capabilities)) != len(capabilities):
            raise ValueError("lists a capability twice")
        return capabilities

    @field_validator("sources")
    @classmethod
    def _cited(cls, sources: list[_SourceEntry]) -> list[_SourceEntry]:
        if not any(source.url for source in sources):
            raise ValueError("needs at least one source with an https URL")
        return sources

    @model_validator(mode="after")
    def _capabilities_match_figures(self) -> _DeviceEntry:
        # A capability the chooser relies on must come with the throughput it runs at, and a
        # low-precision figure without its capability is a contradiction in the file.
        has = set(self.capabilities)
        for dtype in ("fp8", "fp4"):
            if (dtype in has) != (dtype in self.tflops):
                listed, missing = (("capabilities", "tflops") if dtype in has
                                   else ("tflops", "capabilities"))
                raise ValueError(f"{missing}: {dtype} is in {listed} but not in {missing}")
        if "int8_tensor_cores" in has and "int8" not in self.tflops:
            raise ValueError("capabilities: int8_tensor_cores needs an int8 figure in tflops")
        if "bf16" in has and "bf16" not in self.tflops:
            raise ValueError("capabilities: bf16 needs a bf16 figure in tflops")
        return self

    def device(self) -> Device:
        return Device(
            key=self.key, name=self.name, kind=self.kind, architecture=self.architecture,
            memory_gib=self.memory_gib, bandwidth_gb_s=self.bandwidth_gb_s,
            tflops=dict(self.tflops), capabilities=frozenset(self.capabilities),
            power_w=self.power_w, host_link_gb_s=self.host_link_gb_s,
            sources=tuple(Source(title=s.title, url=s.url) for s in self.sources),
            note=self.note,
        )


def _problems(error: ValidationError) -> str:
    # A whole-device check has no location; its message starts with the field it blames.
    problems = []
    for e in error.errors():
        message = e["msg"].removeprefix("Value error, ")
        problems.append(f"{'.'.join(map(str, e['loc']))}: {message}" if e["loc"] else message)
    return "; ".join(problems)


def _parse(path: Path) -> dict[str, Device]:
    try:
        raw = load_unique(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise HardwareError(f"{path.name}: cannot be read as YAML: {error}") from error
    if not isinstance(raw, dict):
        raise HardwareError(f"{path.name}: expected a mapping at the top level")
    extra = sorted(set(raw) - {"schema_version", "devices"})
    if extra:
        raise HardwareError(f"{path.name}: unknown top-level fields {extra}")
    if raw.get("schema_version") != SCHEMA_VERSION:
        raise HardwareError(f"{path.name}: schema_version must be {SCHEMA_VERSION}, "
                            f"got {raw.get('schema_version')!r}")
    entries = raw.get("devices")
    if not isinstance(entries, list) or not entries:
        raise HardwareError(f"{path.name}: devices must be a non-empty list")
    devices: dict[str, Device] = {}
    for index, entry in enumerate(entries):
        # Name the device by its key where it has one: easier to find than its index.
        key = entry.get("key") if isinstance(entry, dict) else None
        where = f"device {key!r}" if isinstance(key, str) else f"devices[{index}]"
        if not isinstance(entry, dict):
            raise HardwareError(f"{path.name}: {where}: expected a mapping")
        try:
            device = _DeviceEntry.model_validate(entry).device()
        except ValidationError as error:
            raise HardwareError(f"{path.name}: {where}: {_problems(error)}") from None
        if device.key in devices:
            raise HardwareError(f"{path.name}: {where}: key: appears twice")
        devices[device.key] = device
    return devices


@functools.lru_cache(maxsize=1)
def _default_hardware() -> dict[str, Device]:
    return _parse(HARDWARE_PATH)


def load_hardware(path: Path = HARDWARE_PATH) -> dict[str, Device]:
    """The devices in the hardware data file, by key, in the file's order."""
    # The shipped file is parsed once per process (the web page asks on every rerun); a copy
    # keeps a caller's changes to the mapping out of the cache.
    if Path(path) == HARDWARE_PATH:
        return dict(_default_hardware())
    return _parse(Path(path))
