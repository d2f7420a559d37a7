"""A bench row's recipe steps applied to a loaded model and measured: shared by the side-by-side
tables (bench.recipe_table, bench.cuda_formats, bench.kv_cache), so that `execution`,
`compression_s` and `layer_bytes_ratio` mean the same in all of them."""

from __future__ import annotations

import torch

from core.engine.cost import Stopwatch
from core.engine.measure import measure_model
from core.engine.measure_config import MeasureConfig
from core.engine.metrics import REAL, SIMULATED
from core.engine.models import LoadedModel
from core.engine.quality import BaselineOutputs
from core.engine.results import Measurement
from core.quantization.targets import layer_bytes, target_linears
from core.recipes import build_config
from core.techniques.context import ApplyContext, ApplyReport
from core.techniques.registry import apply

Steps = list[tuple[str, dict]]  # (recipe slug, settings), applied in order


def apply_steps(model: torch.nn.Module, steps: Steps, context: ApplyContext) -> list[ApplyReport]:
    """Apply every step to `model` in place, in order."""
    return [apply(model, build_config(recipe, settings), context) for recipe, settings in steps]


def execution_of(reports: list[ApplyReport]) -> str:
    """The row's execution: simulated as soon as one step is."""
    return SIMULATED if any(report.execution == SIMULATED for report in reports) else REAL


def measure_steps(loaded: LoadedModel, steps: Steps, context: ApplyContext,
                  config: MeasureConfig, *, name: str,
                  baseline: BaselineOutputs) -> tuple[Measurement, list[ApplyReport]]:
    """Apply `steps` to `loaded` (timed: compression_s) and measure it against `baseline`,
    with layer_bytes_ratio: the target Linears' stored bytes after the steps over before."""
    layers = target_linears(loaded.model)
    dense_bytes = layer_bytes(loaded.model, layers)
    with Stopwatch(loaded.device) as watch:
        reports = apply_steps(loaded.model, steps, context)
    result = measure_model(loaded, config, name=name, baseline=baseline,
                           execution=execution_of(reports))
    # No steps is the baseline row: nothing was compressed, so no time to show.
    result.metrics["compression_s"] = watch.seconds if steps else None
    # The steps may replace the Linears (packed formats), so look them up again by name.
    result.metrics["layer_bytes_ratio"] = layer_bytes(loaded.model, layers) / dense_bytes
    return result, reports
