"""The rules a technique's settings must meet on a model's shapes, each in one place: the
handlers enforce them on the real layers, and the launch check applies them to the shapes a
config.json describes, before a job is queued. Torch-free; each returns the problem in
words, or None when the rule holds."""

from __future__ import annotations

# Group sizes worth suggesting: what packed formats and kernels commonly take.
COMMON_GROUP_SIZES = (16, 32, 64, 96, 128, 192, 256)


def group_size_problem(in_features: int, group_size: int | None, name: str) -> str | None:
    """A group of weights shares one scale along the input dimension, so it must divide it."""
    if group_size is None:
        return None
    if group_size < 1 or in_features % group_size:
        divisors = [d for d in COMMON_GROUP_SIZES if in_features % d == 0]
        hint = f"; sizes that divide it: {', '.join(map(str, divisors))}" if divisors else ""
        return (f"group_size {group_size} does not divide the input dimension {in_features} "
                f"of {name}{hint}")
    return None


def pattern_problem(in_features: int, pattern: str, name: str) -> str | None:
    """An N:M pattern tiles each row in groups of M inputs, so M must divide the input
    dimension."""
    if pattern == "unstructured":
        return None
    group = int(pattern.split(":")[1])
    if in_features % group:
        return (f"{pattern} sparsity needs input dimensions divisible by {group}; {name} has "
                f"{in_features}")
    return None


def layers_dropped(
    total: int, fraction: float, keep_first_and_last: bool
) -> tuple[int, str | None]:
    """How many of `total` decoder layers a layer drop of `fraction` removes, and the problem
    when that is none, or more than may go."""
    count = round(total * fraction)
    candidates = max(total - 2 if keep_first_and_last else total, 0)
    if count < 1:
        return count, (
            f"removing {fraction:g} of {total} layers rounds to none; choose a larger fraction"
        )
    if count > candidates:
        kept = " (the first and last stay)" if keep_first_and_last else ""
        return count, (
            f"removing {fraction:g} of {total} layers is {count}, more than the "
            f"{candidates} that may go{kept}; choose a smaller fraction"
        )
    return count, None


def width_removed(total: int, fraction: float, what: str) -> tuple[int, str | None]:
    """How many of `total` channels or groups a width pruning of `fraction` removes, and the
    problem when that is none or all of them."""
    remove = round(total * fraction)
    if remove < 1 or remove >= total:
        return remove, (
            f"removing {fraction:g} of {total} {what} removes "
            f"{'none' if remove < 1 else 'all'}; choose another fraction"
        )
    return remove, None


def draft_layers_kept(total: int, share: float) -> tuple[int, str | None]:
    """How many decoder layers a draft cut from a `total`-layer target keeps, and the
    problem when that removes none."""
    kept = max(1, round(total * share))
    if kept >= total:
        return kept, (
            f"keeping {share:g} of {total} decoder layers removes none; lower draft_layers_kept"
        )
    return kept, None


# What torch's CPU int4 kernel accepts (aten._weight_int4pack_mm_for_cpu checks the same).
INT4_CPU_GROUP_SIZES = (32, 64, 128, 256)
INT4_CPU_ROW_MULTIPLE = 16


def _int4_problem(kernel: str, row_multiple: int, out_features: int, in_features: int, *,
                  bits: int, group_size: int | None, name: str) -> str | None:
    # torch's CPU and CUDA int4 kernels take the same bits and groups; their row rules differ.
    if bits != 4:
        return f"the {kernel} int4 kernel packs 4-bit weights, not {bits}-bit"
    if group_size not in INT4_CPU_GROUP_SIZES:
        shown = "per channel" if group_size is None else f"group size {group_size}"
        sizes = ", ".join(map(str, INT4_CPU_GROUP_SIZES))
        return f"the {kernel} int4 kernel takes group sizes {sizes}, not {shown}"
    if in_features % group_size:
        return f"group size {group_size} does not divide the input dimension {in_features}"
    if out_features % row_multiple:
        return (f"the {kernel} int4 kernel needs an output dimension that is a multiple of "
                f"{row_multiple}; {name} has {out_features}")
    return None


def int4_cpu_problem(out_features: int, in_features: int, *, bits: int,
                     group_size: int | None, name: str = "the layer") -> str | None:
    """Why a layer of this shape and grid cannot be packed for the CPU int4 kernel, or None."""
    return _int4_problem("CPU", INT4_CPU_ROW_MULTIPLE, out_features, in_features, bits=bits,
                         group_size=group_size, name=name)


def int8_cpu_problem(*, bits: int, group_size: int | None, symmetric: bool) -> str | None:
    """Why a grid cannot be packed for the CPU int8 weight-only kernel
    (aten._weight_int8pack_mm: one scale per output row, no zero point), or None."""
    if bits != 8:
        return f"the CPU int8 kernel packs 8-bit weights, not {bits}-bit"
    if group_size is not None:
        return (f"the CPU int8 kernel takes one scale per output channel, not groups of "
                f"{group_size}: choose per channel")
    if not symmetric:
        return "the CPU int8 kernel takes a symmetric grid (no zero point): set symmetric"
    return None


# What torch's CUDA int4 kernel (tinygemm, aten._weight_int4pack_mm) accepts: the same
# groups, an output dimension a multiple of 8, and an input dimension a multiple of 16 times
# its inner k-tiles (8, 4 or 2: the largest that fits is used; groups of 32 or more make
# that always so).
INT4_CUDA_ROW_MULTIPLE = 8
INT4_CUDA_INNER_K_TILES = (8, 4, 2)


def int4_cuda_inner_k_tiles(in_features: int) -> int | None:
    """The inner k-tiles the CUDA int4 layout packs this input dimension with, or None."""
    return next((t for t in INT4_CUDA_INNER_K_TILES if in_features % (16 * t) == 0), None)


def int4_cuda_problem(out_features: int, in_features: int, *, bits: int,
                      group_size: int | None, name: str = "the layer") -> str | None:
    """Why a layer of this shape and grid cannot be packed for the CUDA int4 kernel, or None.
    (A group size the kernel takes divides the input dimension, so it is a multiple of 32
    and some inner k-tiles always fit.)"""
    return _int4_problem("CUDA", INT4_CUDA_ROW_MULTIPLE, out_features, in_features, bits=bits,
                         group_size=group_size, name=name)


def pack_problem(pack: str, out_features: int, in_features: int, *, bits: int,
                 group_size: int | None, symmetric: bool, name: str) -> str | None:
    """Why a layer cannot be packed in `pack`'s format ("cpu_int4", "cpu_int8",
    "cuda_int4"), or None."""
    if pack == "cuda_int4":
        return int4_cuda_problem(out_features, in_features, bits=bits, group_size=group_size,
                                 name=name)
    if pack == "cpu_int4":
        return int4_cpu_problem(out_features, in_features, bits=bits, group_size=group_size,
                                name=name)
    if pack == "cpu_int8":
        return int8_cpu_problem(bits=bits, group_size=group_size, symmetric=symmetric)
    return None
