"""The result of measuring one model: JSON-serialisable, in the shared metric vocabulary."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from core.engine.metrics import EXECUTIONS, METRICS, format_value


@dataclass
class Measurement:
    """Every figure of one measured model, and how each was obtained."""

    name: str
    model: str
    model_key: str
    device: str
    device_name: str
    dtype: str
    execution: str
    metrics: dict[str, float | None]
    spread: dict[str, float] = field(default_factory=dict)
    protocol: dict = field(default_factory=dict)
    environment: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    created_at: str = ""

    def __post_init__(self) -> None:
        unknown = set(self.metrics) - set(METRICS)
        if unknown:
            raise ValueError(f"unknown metric names: {sorted(unknown)}")
        if self.execution not in EXECUTIONS:
            raise ValueError(f"execution must be one of {EXECUTIONS}, not {self.execution!r}")

    def to_dict(self) -> dict:
        """A JSON-ready dict."""
        return asdict(self)

    def to_json(self) -> str:
        """The measurement as JSON text."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict) -> Measurement:
        """Rebuild from `to_dict` output."""
        return cls(**data)

    @classmethod
    def from_json(cls, text: str) -> Measurement:
        """Rebuild from `to_json` output."""
        return cls.from_dict(json.loads(text))

    def row(self) -> dict:
        """One row in the bench/CLI JSON shape: name, metrics, execution, protocol."""
        return {
            "name": self.name,
            **self.metrics,
            "execution": self.execution,
            "protocol": self.protocol,
        }

    def table(self) -> str:
        """A readable table of every metric, its spread and unit."""
        lines = [
            f"{self.model} on {self.device_name} ({self.device}, {self.dtype}), "
            f"execution: {self.execution}"
        ]
        width = max(len(name) for name in METRICS)
        for name in METRICS:
            if name not in self.metrics:
                continue
            text = format_value(name, self.metrics[name])
            if name in self.spread:
                text += f"  (IQR {format_value(name, self.spread[name])})"
            lines.append(f"  {name:<{width}}  {text}")
        paths = self.environment.get("decode_paths")
        if paths:
            # Which path timed decode: the lean one, or the one it fell back to (notes: why).
            lines.append("  decode timed on: " + ", ".join(f"{b} {p}" for b, p in paths.items()))
        lines.append("  protocol: " + ", ".join(f"{k}={v}" for k, v in self.protocol.items()))
        lines += [f"  note: {note}" for note in self.notes]
        return "\n".join(lines)
