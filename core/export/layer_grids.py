"""The integer levels and grid of every quantized Linear in a model, whichever way it is
held: a rounded float layer that remembers its grid (simulated), a packed CPU int4 / int8
layer, or a W8A8 int8 layer, fused siblings included (real). Exports write these, so a
format that can hold the grid holds exactly the values the job measured."""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch

from core.quantization.int4_cpu import Int4PackedLinear
from core.quantization.int8_cpu import Int8WeightOnlyLinear
from core.quantization.int8_fusion import Int8LinearPart
from core.quantization.int8_linear import Int8Linear
from core.quantization.llm_int8 import MixedInt8Linear
from core.quantization.packing import grid_of
from core.quantization.targets import replace_module


@dataclass(frozen=True)
class GridLayer:
    """A quantized Linear as levels on a grid: value = (level - zero) * scale."""

    levels: torch.Tensor  # int32 [rows, columns], 0 .. 2**bits - 1, in `order`'s column order
    scale: torch.Tensor  # float32 [rows, groups]
    zero: torch.Tensor  # float32 [rows, groups], integer-valued: the level that stands for 0
    bits: int
    group_size: int | None
    symmetric: bool
    order: torch.Tensor | None  # the column order the groups follow; None: natural
    bias: torch.Tensor | None
    # Activations quantized on the fly (W8A8, SmoothQuant): "per_token" or "per_tensor" int8;
    # None for weight-only layers, whose inputs stay in float.
    activations: str | None = None

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.levels.shape)

    def expanded(self, values: torch.Tensor) -> torch.Tensor:
        """A [rows, groups] tensor repeated to one value per column (grid order)."""
        return values.repeat_interleave(self.group_size or self.shape[1], dim=1)

    def weight(self) -> torch.Tensor:
        """The float weight the levels stand for, in the layer's own column order."""
        values = (self.levels.float() - self.expanded(self.zero)) * self.expanded(self.scale)
        if self.order is not None:
            values = values[:, torch.argsort(self.order)]
        return values


def _from_rounded(linear: torch.nn.Linear) -> GridLayer:
    grid = grid_of(linear)
    weight = linear.weight.detach().float().cpu()
    if grid.input_order is not None:
        weight = weight[:, grid.input_order.cpu()]
    scale, zero = grid.scale.float().cpu().squeeze(-1), grid.zero.float().cpu().squeeze(-1)
    offset = 2 ** (grid.bits - 1) if grid.symmetric else 0
    zero = torch.full_like(scale, offset) if grid.symmetric else zero
    size = grid.group_size or weight.shape[1]
    levels = torch.round(weight / scale.repeat_interleave(size, 1)) + \
        zero.repeat_interleave(size, 1)
    return GridLayer(levels.clamp(0, 2**grid.bits - 1).to(torch.int32), scale, zero,
                     grid.bits, grid.group_size, grid.symmetric,
                     None if grid.input_order is None else grid.input_order.cpu(),
                     None if linear.bias is None else linear.bias.detach().float().cpu())


def _from_int4(layer: Int4PackedLinear) -> GridLayer:
    levels, scale, middle = layer.grid()
    # The kernel stores the value at level 8; the grid's zero is where the value is 0.
    zero = torch.round(8 - middle / scale)
    order = None if layer.input_order is None else layer.input_order.cpu()
    return GridLayer(levels, scale, zero, 4, layer.group_size, bool((zero == 8).all()),
                     order, None if layer.bias is None else layer.bias.float().cpu())


def _from_int8(layer: Int8WeightOnlyLinear) -> GridLayer:
    levels = layer.weight_int8.to(torch.int32) + 128
    scale = layer.scales.float().reshape(-1, 1)
    return GridLayer(levels, scale, torch.full_like(scale, 128), 8, None, True, None,
                     None if layer.bias is None else layer.bias.float())


def _from_w8a8(layer: Int8Linear, rows: slice | None = None) -> GridLayer:
    # Symmetric int8 per output row, levels -127..127 (shifted to 1..255 here).
    rows = rows or slice(0, layer.out_features)
    levels = layer.weight_int8[rows].to(torch.int32).cpu() + 128
    scale = layer.weight_scale[rows].float().cpu().reshape(-1, 1)
    bias = None if layer.bias is None else layer.bias[rows].float().cpu()
    return GridLayer(levels, scale, torch.full_like(scale, 128), 8, None, True, None, bias,
                     activations=layer.activations)


def _part_rows(part: Int8LinearPart) -> slice:
    start = sum(part.owner.splits[: part.index])
    return slice(start, start + part.out_features)


def grid_layers(model: torch.nn.Module) -> dict[str, GridLayer]:
    """Every quantized Linear of `model` by its qualified name (a fused int8 product is
    read back as the layers it stands for)."""
    found = {}
    for name, module in model.named_modules():
        if isinstance(module, MixedInt8Linear):
            raise ValueError(f"{name} is an LLM.int8 layer: it multiplies its outlier input "
                             "features in float at run time, which no export format here "
                             "holds; export a W8A8 or SmoothQuant run instead")
        if isinstance(module, Int8LinearPart):
            found[name] = _from_w8a8(module.owner, _part_rows(module))
        elif isinstance(module, Int8Linear):
            # A fused owner's own part is its first rows; a plain Int8Linear is all of it.
            found[name] = _from_w8a8(module, slice(0, module.out_features))
        elif isinstance(module, Int4PackedLinear):
            found[name] = _from_int4(module)
        elif isinstance(module, Int8WeightOnlyLinear):
            found[name] = _from_int8(module)
        elif isinstance(module, torch.nn.Linear) and grid_of(module) is not None:
            found[name] = _from_rounded(module)
    return found


def float_state(model: torch.nn.Module, layers: dict[str, GridLayer]) -> dict[str, torch.Tensor]:
    """The model's tensors as a plain float checkpoint holds them: each quantized layer as
    its float weight (and bias), everything else as it is."""
    state = {}
    packed_prefixes = tuple(f"{name}." for name in layers)
    for key, tensor in model.state_dict().items():
        if not key.startswith(packed_prefixes):
            state[key] = tensor.detach().cpu()
    for name, layer in layers.items():
        state[f"{name}.weight"] = layer.weight()
        if layer.bias is not None:
            state[f"{name}.bias"] = layer.bias
    return state


def plain_model(model: torch.nn.Module, layers: dict[str, GridLayer]) -> torch.nn.Module:
    """A float copy of `model` on the CPU whose quantized layers are plain Linears holding
    their grid's weights (the job's model is left as it is)."""
    plain = copy.deepcopy(model).cpu()
    if "lm_head" in layers and getattr(plain.config, "tie_word_embeddings", False):
        # A quantized head (W8A8 converts it) is no longer the embedding: store it apart.
        plain.config.tie_word_embeddings = False
    for name, layer in layers.items():
        rows, columns = layer.shape
        linear = torch.nn.Linear(columns, rows, bias=layer.bias is not None)
        with torch.no_grad():
            linear.weight.copy_(layer.weight())
            if layer.bias is not None:
                linear.bias.copy_(layer.bias)
        replace_module(plain, name, linear)
    return plain
