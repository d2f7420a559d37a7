"""A running job's progress as one fraction of the whole that only grows.

The runner reports stages as it goes ("baseline: quality", "step 1/2 gptq", "measure:
decode_b8", ...), each with how far that stage is. The tracker places each stage in the
job's plan and weighs it by its predicted seconds, so the bar never jumps back when a new
stage starts; it also records how long each phase really took, which later estimates learn
from. Torch-free."""

from __future__ import annotations

import re
import time
from collections.abc import Callable

from core.jobs.plan import JobPlan

# Where the engine's measurement stages sit inside a quality or speed phase (see
# core/engine/measure.py for their order).
QUALITY_STAGES = {"data": 0.0, "quality": 0.0, "kv_cache": 0.95}
SPEED_STAGES_FULL = {"prefill": 0.0, "ttft": 0.2, "decode_b1": 0.3, "decode_b8": 0.6,
                     "bandwidth": 0.95}
SPEED_STAGES_B1 = {"decode_b1": 0.0, "bandwidth": 0.9}
STEP = re.compile(r"^step (\d+)/\d+ ")
SIMPLE_STAGES = {"loading model": "load", "baseline outputs": "reference",
                 "calibration data": "calibration", "diagnostics": "diagnostics",
                 "saving model": "save"}


class ProgressTracker:
    """Turns (stage, fraction of stage) reports into the job's overall fraction."""

    def __init__(self, plan: JobPlan, clock: Callable[[], float] = time.monotonic) -> None:
        self.plan, self.clock = plan, clock
        self.fraction = 0.0
        self.current: str | None = None
        self._entered: dict[str, float] = {}
        self.seconds: dict[str, float] = {}

    def _place(self, stage: str, within: float) -> tuple[str, float] | None:
        if stage in SIMPLE_STAGES:
            return SIMPLE_STAGES[stage], within
        match = STEP.match(stage)
        if match:
            return f"step.{match.group(1)}", within
        prefix, _, engine_stage = stage.partition(": ")
        if prefix == "export":
            # An export job: "export: writing", then "export: reading back[: perplexity]".
            if engine_stage.startswith("reading back"):
                return "readback", within if engine_stage.endswith("perplexity") else 0.0
            return "export", within
        if prefix not in ("baseline", "measure"):
            return None
        speed = f"{prefix}.speed"
        if engine_stage in QUALITY_STAGES:
            start = QUALITY_STAGES[engine_stage]
            # The perplexity pass reports its own fraction; it spans most of the phase.
            share = within * 0.95 if engine_stage == "quality" else start
            return f"{prefix}.quality", share
        if engine_stage == "done":
            return (speed if speed in self.plan.keys() else f"{prefix}.quality"), 1.0
        stages = SPEED_STAGES_FULL if self._speed_kind(speed) == "speed_full" else SPEED_STAGES_B1
        if engine_stage in stages:
            return speed, stages[engine_stage]
        return None

    def _speed_kind(self, key: str) -> str | None:
        return next((p.kind for p in self.plan.phases if p.key == key), None)

    def update(self, stage: str, within: float) -> float:
        """Note a report; return the overall fraction (never less than before)."""
        placed = self._place(stage, within)
        if placed is not None and placed[0] in self.plan.keys():
            key, share = placed
            if key != self.current:
                self._enter(key)
            overall = self.plan.fraction(key, share)
            if overall is not None:
                self.fraction = max(self.fraction, overall)
        return self.fraction

    def _enter(self, key: str) -> None:
        moment = self.clock()
        if self.current is not None and self.current in self._entered:
            self.seconds[self.current] = self.seconds.get(self.current, 0.0) + (
                moment - self._entered.pop(self.current))
        self.current = key
        self._entered[key] = moment

    def finish_preview(self) -> dict:
        """The timings record as it stands, without closing the current phase."""
        return {"plan": self.plan.to_record(), "planned_total_s": round(self.plan.total_s, 1),
                "parameters": self.plan.parameters,
                "phases": {key: round(value, 2) for key, value in self.seconds.items()}}

    def finish(self) -> dict:
        """Close the last phase; the timings record stored with the job."""
        if self.current is not None:
            self._enter("__end__")
            self._entered.pop("__end__", None)
            self.current = None
        return self.finish_preview()
