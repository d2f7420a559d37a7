"""Sibling layers that read the same input (q/k/v, gate/up) computed by one int8 product.

At batch 1 every int8 matmul call carries a fixed cost (quantizing the input, launching the
kernel, rescaling) that rivals the arithmetic, so stacking the siblings' weights and calling
the kernel once per input is what lets the int8 model decode faster than the float one.
Numerically nothing changes: each output row of a product depends only on its own weight row.

Siblings are found by watching one short forward pass of the float model: layers whose
pre-forward hooks see the very same input tensor object read the same input. No layer names
are assumed, so any architecture works; where there are no siblings nothing is fused.
"""

from __future__ import annotations

import torch

from core.quantization.int8_linear import Int8Linear, LastInputCache


class FusedInt8Linear(Int8Linear):
    """The first sibling: holds every sibling's int8 weights stacked along the output
    dimension, computes all their outputs in one product, and returns its own part."""

    def __init__(self, in_features: int, splits: tuple[int, ...], **kwargs) -> None:
        super().__init__(in_features, sum(splits), **kwargs)
        self.splits = tuple(splits)
        self.fused_features = sum(splits)
        # Outwardly this module is the layer it replaced.
        self.out_features = splits[0]
        self.__dict__["outputs"] = LastInputCache()

    @classmethod
    def from_linears(
        cls, linears: list[torch.nn.Linear], activations: str = "per_token"
    ) -> FusedInt8Linear:
        """Quantize each sibling per output channel (exactly as alone) and stack them."""
        first = linears[0]
        layer = cls(
            first.in_features, tuple(linear.out_features for linear in linears),
            bias=first.bias is not None, activations=activations,
            device=first.weight.device, dtype=first.weight.dtype,
        )
        start = 0
        for linear in linears:
            part = Int8Linear.from_linear(linear, activations)
            end = start + linear.out_features
            layer.weight_int8[start:end].copy_(part.weight_int8)
            layer.weight_scale[start:end].copy_(part.weight_scale)
            if part.bias is not None:
                layer.bias[start:end].copy_(part.bias)
            start = end
        return layer

    def fused_outputs(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Every sibling's output for `x`, computed once per input tensor."""
        return self.outputs.get_or_compute(x, None, lambda: self._compute(x))

    def _compute(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        together = self._int8_product(x, self.fused_features)
        # Contiguous parts, as a plain Linear returns: callers may .view() them freely.
        return tuple(part.contiguous() for part in together.split(self.splits, dim=-1))

    def dequantized_weight(self) -> torch.Tensor:
        return super().dequantized_weight()[: self.splits[0]]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fused_outputs(x)[0]

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, fused with siblings: outputs {self.splits}"


class Int8LinearPart(torch.nn.Module):
    """A later sibling: no weights of its own, its output is its part of the fused product."""

    def __init__(self, owner: FusedInt8Linear, index: int) -> None:
        super().__init__()
        self.in_features = owner.in_features
        self.out_features = owner.splits[index]
        self.index = index
        # Not a submodule: the owner's weights are stored (and counted) once, at the owner.
        self.__dict__["owner"] = owner

    def dequantized_weight(self) -> torch.Tensor:
        start = sum(self.owner.splits[: self.index])
        weight = Int8Linear.dequantized_weight(self.owner)
        return weight[start : start + self.out_features]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.owner.fused_outputs(x)[self.index]

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"part {self.index} of a fused int8 product")


def shared_input_groups(
    model: torch.nn.Module, linears: dict[str, torch.nn.Linear]
) -> list[list[str]]:
    """Names of the layers in `linears` that read one input tensor, two or more per group, in
    the order they ran. Found from one forward pass of two tokens; a model that cannot run
    that pass (or has no siblings) gives no groups."""
    seen: list[tuple[torch.Tensor, list[str]]] = []

    def hook_for(name: str):
        def record(module, args):
            for tensor, names in seen:
                if args and args[0] is tensor:
                    names.append(name)
                    return
            if args and isinstance(args[0], torch.Tensor):
                seen.append((args[0], [name]))  # keeps the tensor alive: ids stay unique

        return record

    handles = [linear.register_forward_pre_hook(hook_for(name)) for name, linear in linears.items()]
    device = next(model.parameters()).device
    try:
        with torch.no_grad():
            model(torch.zeros((1, 2), dtype=torch.long, device=device), use_cache=False)
    except Exception:  # noqa: BLE001  (fusion is an optimisation; without it W8A8 still works)
        return []
    finally:
        for handle in handles:
            handle.remove()
    return [names for _, names in seen if len(names) > 1 and _fusable([linears[n] for n in names])]


def _fusable(linears: list[torch.nn.Linear]) -> bool:
    first = linears[0]
    return all(
        linear.in_features == first.in_features
        and linear.weight.dtype == first.weight.dtype
        and linear.weight.device == first.weight.device
        and (linear.bias is None) == (first.bias is None)
        for linear in linears
    )


def fuse_group(linears: list[torch.nn.Linear], activations: str) -> list[torch.nn.Module]:
    """Replacements for `linears`, in order: the fused owner, then its parts."""
    owner = FusedInt8Linear.from_linears(linears, activations)
    return [owner] + [Int8LinearPart(owner, index) for index in range(1, len(linears))]
