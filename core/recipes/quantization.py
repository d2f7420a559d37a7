"""The quantization configs: every setting a quantizer takes, with its bounds, default and
help text, and what the quantizer needs to run. Their handlers live in core/quantization.

Torch-free (pydantic only), so the app can build and validate these configs and generate
their launch forms without loading the engine.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from core.engine.model_shapes import ModelShape, targets
from core.recipes.base import CalibratedConfig, LayerNames, Requirements, TechniqueConfig
from core.recipes.shape_rules import COMMON_GROUP_SIZES, group_size_problem, pack_problem

DEFAULT_SKIP = ("lm_head",)
SKIP_HELP = "layers left in float: any whose name contains an entry"


def group_problems(shape: ModelShape, group_size: int | None, skip: tuple[str, ...]) -> list[str]:
    """One problem naming every target layer whose input dimension `group_size` does not
    divide, and the sizes that divide them all; empty when it divides every one."""
    layers = targets(shape, skip)
    failing: dict[int, list[str]] = {}
    for linear in layers:
        if group_size_problem(linear.in_features, group_size, linear.name):
            failing.setdefault(linear.in_features, []).append(linear.name.rsplit(".", 1)[-1])
    if not failing:
        return []
    where = " and ".join(f"{dim} ({', '.join(names)})" for dim, names in failing.items())
    dims = {linear.in_features for linear in layers}
    fitting = [d for d in COMMON_GROUP_SIZES if all(dim % d == 0 for dim in dims)]
    hint = f"; sizes that divide all of them: {', '.join(map(str, fitting))}" if fitting else ""
    return [f"group_size {group_size} does not divide the input dimension of every target "
            f"layer: {where}{hint}"]


# --- Weight-only, simulated: RTN, GPTQ, AWQ (core/quantization/rtn.py, gptq.py, awq.py) ---


class WeightQuantConfig(TechniqueConfig):
    """Settings shared by weight-only quantizers."""

    bits: int = Field(4, ge=2, le=8, description="bits per weight")
    group_size: int | None = Field(
        64, ge=1, description="weights sharing one scale along the input dimension; "
        "None means one scale per output channel. Must divide the input dimension.",
        json_schema_extra={"value_label": "groups of weights",
                           "none_label": "per channel (one scale per output row)"},
    )
    symmetric: bool = Field(False, description="symmetric grid (no zero point)")
    skip: LayerNames = Field(DEFAULT_SKIP, description=SKIP_HELP)
    pack: Literal["none", "cpu_int4", "cpu_int8", "cuda_int4"] = Field(
        "none", description="none: simulated (the rounded weights stay in float: quality "
        "only); cpu_int4: packed two to a byte for torch's CPU int4 kernel (4 bits, groups "
        "of 32, 64, 128 or 256); cpu_int8: int8 for torch's CPU int8 kernel (8 bits, "
        "symmetric, per channel); cuda_int4: torch's CUDA int4 kernel (tinygemm; 4 bits, "
        "the same groups, an NVIDIA GPU of compute capability 8.0 or newer). Packed is "
        "real: size and speed are measured",
    )

    @model_validator(mode="after")
    def _sensible_group(self):
        if self.group_size is not None and self.group_size < 8:
            raise ValueError("group_size below 8 stores more scale than weight")
        return self

    def planned_execution(self) -> str:
        """Real when packed, simulated otherwise."""
        return "real" if self.pack != "none" else self.execution

    def shape_problems(self, shape: ModelShape) -> list[str]:
        """Group sizes that do not divide a target layer's input dimension, and shapes or
        grids the packed kernel refuses."""
        problems = group_problems(shape, self.group_size, self.skip)
        if self.pack != "none" and not problems:
            found = (pack_problem(self.pack, linear.out_features, linear.in_features,
                                  bits=self.bits, group_size=self.group_size,
                                  symmetric=self.symmetric, name=linear.name)
                     for linear in targets(shape, self.skip))
            problems += sorted({f"pack {self.pack}: {p}" for p in found if p})
        return problems


class CalibratedWeightQuantConfig(CalibratedConfig, WeightQuantConfig):
    """Weight quantizers that look at calibration activations (GPTQ, AWQ)."""


class RTNConfig(WeightQuantConfig):
    """Round-to-nearest, per channel or per group."""

    recipe: Literal["rtn"] = "rtn"
    algorithm = "round_to_nearest"


class GPTQConfig(CalibratedWeightQuantConfig):
    """GPTQ: Hessian-aware rounding with error feedback, layer by layer."""

    recipe: Literal["gptq"] = "gptq"
    algorithm = "gptq_quantize"
    damping: float = Field(
        0.01, gt=0, le=1, description="fraction of the mean Hessian diagonal added to the "
        "diagonal, so its inverse stays stable"
    )
    block_size: int = Field(
        128, ge=1, le=4096, description="columns rounded between two full error updates "
        "(speed only)"
    )
    # On by default: on the bundled model it takes W4 g64 perplexity from 19.4 to 18.2 (RTN:
    # 20.7) at no cost here, since the rounded weights stay in float (simulated).
    act_order: bool = Field(
        True, description="round columns with the largest activations first (with groups, "
        "groups then follow that order, so a packed format needs a per-column group index)"
    )
    static_groups: bool = Field(
        False, description="with act_order and groups: fit every group's grid up front, in "
        "the natural column order, so groups stay contiguous (GGUF and compressed-tensors "
        "exports then hold the grid exactly; GPTQ's static groups)"
    )


class AWQConfig(CalibratedWeightQuantConfig):
    """AWQ: per-input-channel scales searched on calibration activations, then rounding."""

    recipe: Literal["awq"] = "awq"
    algorithm = "search_scales"
    grid_points: int = Field(
        20, ge=2, le=100, description="values of the exponent alpha tried, evenly in [0, 1]"
    )


class AutoRoundConfig(CalibratedWeightQuantConfig):
    """AutoRound: rounding offsets and clipping tuned by signed gradient descent, block by
    block, through the auto-round package."""

    recipe: Literal["autoround"] = "autoround"
    algorithm = "autoround_blocks"
    iterations: int = Field(
        50, ge=1, le=1000, description="signed-gradient steps per decoder block (the paper "
        "uses 200; each step runs the block forward and backward on a batch, so time grows "
        "with steps)"
    )
    batch_size: int = Field(4, ge=1, le=64, description="calibration sequences per step")

    requirements = Requirements(calibration=True, packages=("auto_round",))


# --- Int8 weights and activations, real: W8A8, SmoothQuant (core/quantization/w8a8.py,
# smoothquant.py) ---

# Unlike the weight-only quantizers, W8A8 converts the output head too: at batch 1 it is the
# largest matrix read per token (a quarter of this model's bytes), so leaving it in float
# erased the int8 speedup (measured 0.96x with it in float, 1.27x converted, on the bundled
# model), for +1.1% perplexity.
W8A8_DEFAULT_SKIP: tuple[str, ...] = ()
W8A8_SKIP_HELP = (
    "layers left in float: any whose name contains an entry (the output head, lm_head, is "
    "converted unless listed)"
)

FUSE_HELP = (
    "multiply layers that read the same input (q/k/v, gate/up) in one int8 product: same "
    "numbers, fewer kernel calls"
)

ACTIVATIONS_HELP = (
    "activation scales: per_tensor (one per matrix, cheapest, hurt most by outlier channels) "
    "or per_token (one per row)"
)


class W8A8Config(TechniqueConfig):
    """Int8 weights (per output channel) and dynamic int8 activations, no smoothing."""

    recipe: Literal["w8a8"] = "w8a8"
    activations: Literal["per_tensor", "per_token"] = Field(
        "per_token", description=ACTIVATIONS_HELP
    )
    skip: LayerNames = Field(
        W8A8_DEFAULT_SKIP, description=W8A8_SKIP_HELP
    )
    fuse: bool = Field(True, description=FUSE_HELP)

    execution = "real"


class SmoothQuantConfig(CalibratedConfig, W8A8Config):
    """SmoothQuant: per-channel smoothing calibrated on activation maxima, then W8A8."""

    recipe: Literal["smoothquant"] = "smoothquant"
    algorithm = "smoothing_scales"
    alpha: float = Field(
        0.5, ge=0.0, le=1.0,
        description="migration strength: 0 leaves activations as they are, 1 moves all of "
        "their range into the weights",
    )


# --- Mixed int8/float, real: LLM.int8() (core/quantization/llm_int8.py) ---


class LLMInt8Config(TechniqueConfig):
    """Int8 weights and activations, with outlier input features kept in float."""

    recipe: Literal["llm-int8"] = "llm-int8"
    algorithm = "MixedInt8Linear"
    threshold: float = Field(
        6.0, ge=0.0, le=1e4,
        description="an input feature whose |activation| exceeds this in any token is "
        "multiplied in float (the paper's 6.0); 0 turns the split off (all int8), as in "
        "bitsandbytes",
    )
    kernel: Literal["auto", "torch"] = Field(
        "auto",
        description="auto: bitsandbytes on CUDA when installed, else torch._int_mm; "
        "torch: always torch._int_mm",
    )
    skip: LayerNames = Field(DEFAULT_SKIP, description=SKIP_HELP)

    execution = "real"


# --- Packed formats from other libraries, real (core/quantization/quanto.py, bnb_nf4.py,
# torchao_int4.py, fp8.py) ---


class QuantoConfig(TechniqueConfig):
    """Packed weight-only quantization through optimum-quanto."""

    recipe: Literal["quanto"] = "quanto"
    weights: Literal["int8", "int4", "int2", "float8"] = Field(
        "int8", description="weight format (int4 and int2 use groups of 128 weights)"
    )
    skip: LayerNames = Field(DEFAULT_SKIP, description=SKIP_HELP)

    execution = "real"


class HQQConfig(TechniqueConfig):
    """HQQ: calibration-free zero points fitted by half-quadratic optimization."""

    recipe: Literal["hqq"] = "hqq"
    algorithm = "hqq_round"
    bits: Literal[2, 4] = Field(4, description="bits per weight (optimum-quanto's qint2, qint4)")
    group_size: int = Field(
        64, ge=8, description="weights sharing one scale and zero point along the input "
        "dimension; must divide it",
        json_schema_extra={"value_label": "groups of weights"},
    )
    iterations: int = Field(
        20, ge=1, le=200, description="half-quadratic steps refining each group's zero point "
        "(each stops early once the error stops falling)"
    )
    lp_norm: float = Field(
        0.7, gt=0.0, le=1.0, description="p of the l_p error minimized: below 1 it tolerates "
        "a few large errors (outlier weights) to make most others small"
    )
    skip: LayerNames = Field(DEFAULT_SKIP, description=SKIP_HELP)
    pack: Literal["none", "quanto"] = Field(
        "none", description="none: simulated (the rounded weights stay in float: quality only; "
        "the size axis counts them packed with float16 scales and zero points); quanto: "
        "packed into optimum-quanto's int2/int4 weights and run through its kernels (real: "
        "size and speed are measured)"
    )

    def planned_execution(self) -> str:
        """Real when packed through optimum-quanto, simulated otherwise."""
        return "real" if self.pack == "quanto" else self.execution

    def shape_problems(self, shape: ModelShape) -> list[str]:
        """A group size that does not divide some target layer's input dimension."""
        return group_problems(shape, self.group_size, self.skip)


# llama.cpp's block formats that the gguf package can quantize (the k-quants it only reads).
# Each block holds 32 consecutive weights of a row: bytes per block from GGML_QUANT_SIZES.
GGUF_QUANT_TYPES = ("Q8_0", "Q5_1", "Q5_0", "Q4_1", "Q4_0", "MXFP4")
GGUF_BLOCK = 32


class GGUFConfig(TechniqueConfig):
    """llama.cpp's GGUF quantization types, simulated with the gguf package's quantizers."""

    recipe: Literal["gguf"] = "gguf"
    algorithm = "gguf_round_trip"
    quant_type: Literal[GGUF_QUANT_TYPES] = Field(  # type: ignore[valid-type]
        "Q4_0", description="Q8_0: 8-bit, one float16 scale per 32 weights (8.5 bits per "
        "weight); Q5_0/Q4_0: 5/4-bit, a scale per 32; Q5_1/Q4_1: plus a float16 minimum per "
        "32; MXFP4: 4-bit floats (E2M1) with a power-of-two scale per 32 (4.25 bits)"
    )
    skip: LayerNames = Field(DEFAULT_SKIP, description=SKIP_HELP)

    def shape_problems(self, shape: ModelShape) -> list[str]:
        """GGUF blocks run along each row: 32 must divide every target layer's input."""
        wrong = sorted({f"{linear.name.rsplit('.', 1)[-1]} ({linear.in_features})"
                        for linear in targets(shape, self.skip)
                        if linear.in_features % GGUF_BLOCK})
        if not wrong:
            return []
        return [f"GGUF blocks hold {GGUF_BLOCK} weights of a row, which must divide the input "
                f"dimension of every target layer: {', '.join(wrong)} do not"]


class BnbNF4Config(TechniqueConfig):
    """4-bit NormalFloat weights through bitsandbytes' Linear4bit, as in QLoRA."""

    recipe: Literal["bnb-nf4"] = "bnb-nf4"
    compute_dtype: Literal["float16", "bfloat16"] = Field(
        "bfloat16", description="dtype the 4-bit weights are unpacked to for each matmul"
    )
    double_quant: bool = Field(
        True, description="also quantize the per-block scales to 8 bits (QLoRA's double "
        "quantization: about 0.37 bits per weight saved at block size 64)"
    )
    # The block sizes bitsandbytes' 4-bit CUDA kernels accept (32 since bitsandbytes 0.49.2).
    blocksize: Literal[32, 64, 128, 256, 512, 1024, 2048, 4096] = Field(
        64, description="consecutive weights sharing one scale (smaller: more accurate, "
        "more scales)"
    )
    skip: LayerNames = Field(DEFAULT_SKIP, description=SKIP_HELP)

    requirements = Requirements(cuda=True, packages=("bitsandbytes",))
    execution = "real"


# The group sizes torchao's int4 layout takes; TorchaoInt4Config.group_size lists the same.
INT4_GROUP_SIZES = (32, 64, 128, 256)


class TorchaoInt4Config(TechniqueConfig):
    """Int4 weights with one scale and zero point per group, on PyTorch's tinygemm kernel."""

    recipe: Literal["torchao-int4"] = "torchao-int4"
    group_size: Literal[32, 64, 128, 256] = Field(
        64, description="weights sharing one scale along the input dimension; must divide every "
        "target layer's input dimension (576 = 9 x 64 for the bundled model)"
    )
    skip: LayerNames = Field(DEFAULT_SKIP, description=SKIP_HELP)

    requirements = Requirements(cuda=True, packages=("torchao",))
    execution = "real"

    def shape_problems(self, shape: ModelShape) -> list[str]:
        """Group sizes that do not divide a target layer's input dimension."""
        return group_problems(shape, self.group_size, self.skip)


class FP8Config(TechniqueConfig):
    """Float8 (e4m3) weights with one scale per output row, through torchao."""

    recipe: Literal["fp8"] = "fp8"
    mode: Literal["weight_only", "dynamic"] = Field(
        "dynamic", description="weight_only: fp8 weights unpacked for 16-bit matmuls; dynamic: "
        "activations also cast to fp8 per row at run time, products on fp8 tensor cores"
    )
    skip: LayerNames = Field(DEFAULT_SKIP, description=SKIP_HELP)

    requirements = Requirements(cuda=True, packages=("torchao",))
    execution = "real"
