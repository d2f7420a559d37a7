"""What the gallery measures: every recipe that runs on a CPU at its defaults, and the sweeps
the labs compare (bits and groups, sparsity levels, SmoothQuant's alpha, ranks). Each run has
a stable name, the file's key, so a rebuild replaces a run rather than adding a second."""

from __future__ import annotations

from dataclasses import dataclass, field

from core.recipes import config_types


@dataclass(frozen=True)
class PlannedRun:
    """One gallery run: its name, a line saying what it shows, and its recipe steps."""

    name: str
    title: str
    steps: tuple[dict, ...] = ()
    # Which lessons lean on it (the labs read their evidence by these names).
    tags: tuple[str, ...] = field(default_factory=tuple)


BASELINE = PlannedRun("baseline", "the bundled model as shipped (float32)")


def _step(recipe: str, **settings) -> dict:
    return {"recipe": recipe, "settings": settings} if settings else {"recipe": recipe}


def _bits_sweep(recipe: str) -> list[PlannedRun]:
    runs = []
    for bits in (8, 4, 3):
        for group, group_name in ((64, "g64"), (None, "per-channel")):
            runs.append(PlannedRun(
                f"{recipe}-{bits}bit-{group_name}",
                f"{recipe.upper()} {bits}-bit weights, "
                + ("groups of 64" if group else "one scale per output channel"),
                (_step(recipe, bits=bits, group_size=group),), ("rounding",)))
    return runs


def _sparsity_sweep(recipe: str) -> list[PlannedRun]:
    runs = [PlannedRun(f"{recipe}-{int(level * 100)}pct",
                       f"{recipe} at {int(level * 100)} % unstructured sparsity",
                       (_step(recipe, sparsity=level),), ("pruning",))
            for level in (0.3, 0.5, 0.7)]
    runs.append(PlannedRun(f"{recipe}-2of4", f"{recipe} at 2:4 semi-structured sparsity",
                           (_step(recipe, sparsity=0.5, pattern="2:4"),), ("pruning",)))
    return runs


def _sweeps() -> list[PlannedRun]:
    runs = [*_bits_sweep("rtn"), *_bits_sweep("gptq")]
    runs.append(PlannedRun("awq-4bit-g64", "AWQ 4-bit weights, groups of 64",
                           (_step("awq", bits=4, group_size=64),), ("rounding",)))
    runs += [
        PlannedRun("w8a8-per-tensor", "W8A8, one activation scale per tensor",
                   (_step("w8a8", activations="per_tensor"),), ("outliers",)),
        PlannedRun("w8a8-per-token", "W8A8, one activation scale per token",
                   (_step("w8a8", activations="per_token"),), ("outliers",)),
    ]
    runs += [PlannedRun(f"smoothquant-alpha{alpha:g}-per-tensor",
                        f"SmoothQuant (alpha {alpha:g}), per-tensor activations",
                        (_step("smoothquant", alpha=alpha, activations="per_tensor"),),
                        ("outliers",))
             for alpha in (0.25, 0.5, 0.75)]
    runs += [PlannedRun("llm-int8", "LLM.int8(): int8 with float outlier columns",
                        (_step("llm-int8"),), ("outliers", "kernels")),
             PlannedRun("quanto-int8", "quanto int8 weights (a real int8 kernel)",
                        (_step("quanto", weights="int8"),), ("kernels",)),
             PlannedRun("quanto-int4", "quanto int4 weights",
                        (_step("quanto", weights="int4"),), ("kernels",))]
    for recipe in ("magnitude-pruning", "wanda", "sparsegpt"):
        runs += _sparsity_sweep(recipe)
    runs += [
        PlannedRun("layer-drop-25pct", "drop a quarter of the layers",
                   (_step("layer-drop", fraction=0.25),), ("recover",)),
        PlannedRun("layer-drop-25pct-distilled",
                   "drop a quarter of the layers, then distil from the full model",
                   (_step("layer-drop", fraction=0.25), _step("logit-distillation")),
                   ("recover",)),
        PlannedRun("svd-rank50pct", "SVD of the MLP weights at half their rank",
                   (_step("svd-lowrank", rank_ratio=0.5),), ("lowrank",)),
        PlannedRun("svd-rank25pct", "SVD of the MLP weights at a quarter of their rank",
                   (_step("svd-lowrank", rank_ratio=0.25),), ("lowrank",)),
    ]
    return runs


def _defaults(taken: set[str]) -> list[PlannedRun]:
    """Every registered recipe at its defaults, named after it, unless a sweep already
    holds a run with the same steps."""
    return [PlannedRun(f"{recipe}-defaults", f"{recipe} at its defaults", (_step(recipe),),
                       ("defaults",))
            for recipe in sorted(config_types()) if recipe not in taken]


def planned_runs() -> list[PlannedRun]:
    """The baseline first, then the sweeps, then every other recipe at its defaults."""
    sweeps = _sweeps()
    # A recipe whose sweep includes its defaults needs no separate defaults run.
    # Distillation alone has nothing to recover: it is measured after layer dropping.
    at_defaults = {"rtn", "gptq", "awq", "w8a8", "llm-int8", "quanto", "magnitude-pruning",
                   "wanda", "sparsegpt", "layer-drop", "svd-lowrank", "logit-distillation"}
    return [BASELINE, *sweeps, *_defaults(at_defaults)]


def run_named(name: str) -> PlannedRun:
    """The planned run called `name`; KeyError naming the known ones otherwise."""
    runs = {run.name: run for run in planned_runs()}
    if name not in runs:
        raise KeyError(f"no gallery run {name!r}; known: {', '.join(runs)}")
    return runs[name]
