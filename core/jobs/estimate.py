"""Before a job is submitted: roughly how long it will take and how much memory it needs.

Time comes from earlier runs of the same recipe on the same model and device when there are
any (the honest source), else from a coarse per-parameter rate; memory from the parameter
count. Torch-free: the launch page shows it as the user edits the form."""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass
from pathlib import Path

from core.engine.model_refs import ModelNotFoundError, parse_model_ref

# The bundled SmolLM2-135M-Instruct: 134.5 M parameters (513 MiB as float32, measured).
BUNDLED_PARAMETERS = 134_515_008
TINY_PARAMETERS = 100_000
# Seconds per million parameters for one full measurement on a 2-core CPU (the bundled
# model measures in about 75 s); GPUs are far faster, so the guess is an upper bound there.
CPU_SECONDS_PER_MPARAM = 0.6
# Extra passes per recipe relative to one measurement (calibration, Hessians, grid search).
RECIPE_FACTOR = {"gptq": 2.5, "awq": 2.0, "smoothquant": 0.6, "rtn": 0.05, "w8a8": 0.05,
                 "llm-int8": 0.05, "quanto": 0.1}
BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}


@dataclass(frozen=True)
class Estimate:
    """A guess, and what it rests on (shown beside it)."""

    seconds: float | None
    memory_bytes: int | None
    basis: str


def parameter_count(model: str) -> int | None:
    """Parameters of the named model, when knowable without loading it."""
    try:
        spec = parse_model_ref(model)
    except ModelNotFoundError:
        return None
    if spec.kind == "default":
        return BUNDLED_PARAMETERS
    if spec.kind == "tiny":
        return TINY_PARAMETERS
    if spec.kind == "local":
        return _from_config(Path(spec.name) / "config.json")
    return None


def _from_config(path: Path) -> int | None:
    try:
        config = json.loads(path.read_text())
        hidden, layers = config["hidden_size"], config["num_hidden_layers"]
        vocab = config["vocab_size"]
        inner = config.get("intermediate_size", 4 * hidden)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    heads = config.get("num_attention_heads", 1)
    kv_heads = config.get("num_key_value_heads", heads)
    head_dim = config.get("head_dim", hidden // max(heads, 1))
    attention = hidden * head_dim * (2 * heads + 2 * kv_heads)
    mlp = 3 * hidden * inner
    embeddings = vocab * hidden * (1 if config.get("tie_word_embeddings", True) else 2)
    return layers * (attention + mlp) + embeddings


def estimate(model: str, recipes: list[str], device: str, dtype: str,
             history: list[float]) -> Estimate:
    """How long and how much memory a job will take, with its basis in words."""
    params = parameter_count(model)
    memory = None
    if params is not None:
        # The model, a float copy kept for per-layer diagnostics, and working room.
        memory = int(params * BYTES.get(dtype, 4) * 2.5)
    if history:
        median = statistics.median(history)
        return Estimate(median, memory, f"median of {len(history)} earlier run(s) of this "
                        f"recipe on this model and device")
    if params is None:
        return Estimate(None, memory, "no earlier run and an unknown model size: no estimate")
    passes = 1.0 + sum(RECIPE_FACTOR.get(recipe, 1.0) for recipe in recipes)
    seconds = params / 1e6 * CPU_SECONDS_PER_MPARAM * passes + 15
    where = "a 2-core CPU (a GPU is much faster)" if device != "cpu" else "a 2-core CPU"
    count = f"{params / 1e6:.0f} M" if params >= 1e6 else f"{params / 1e3:.0f} K"
    return Estimate(seconds, memory, f"no earlier run: a rough rate for {where}, "
                    f"{count} parameters")
