"""A Linear layer that really computes in int8: weights stored as int8 with one symmetric scale
per output channel, activations quantized to int8 on the fly (one scale per tensor or per
token), the product accumulated in int32 by `torch._int_mm`, then rescaled to float."""

from __future__ import annotations

import threading
from typing import Literal

import torch

Granularity = Literal["per_tensor", "per_token"]
GRANULARITIES: tuple[str, ...] = ("per_tensor", "per_token")

# Symmetric int8 uses [-127, 127] so that negation never overflows and zero is exact.
LEVELS = 127.0


def quantize_weight(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Int8 weight [out, in] and its float scale per output channel [out]."""
    weight = weight.detach().float()
    scale = weight.abs().amax(dim=1).clamp_min(1e-8) / LEVELS
    q = torch.round(weight / scale[:, None]).clamp_(-LEVELS, LEVELS).to(torch.int8)
    return q.contiguous(), scale


def quantize_activations(
    x: torch.Tensor, granularity: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """Int8 rows of `x` [tokens, features] and their scale: [tokens, 1] per token, [1, 1] per
    tensor."""
    if granularity == "per_token":
        peak = x.abs().amax(dim=1, keepdim=True)
    else:
        peak = x.abs().amax().reshape(1, 1)
    scale = peak.clamp_min_(1e-8).div_(LEVELS)
    # |x / scale| <= 127 by construction, so rounding needs no clamp before the cast.
    q = torch.round(x / scale).to(torch.int8)
    return q, scale


def int8_matmul(q: torch.Tensor, weight_t: torch.Tensor) -> torch.Tensor:
    """int32 [tokens, out] = int8 [tokens, in] @ int8 [in, out], through `torch._int_mm`."""
    rows = q.shape[0]
    # CUDA's kernel needs more than 16 rows; pad with zeros and drop them afterwards.
    if q.is_cuda and rows <= 16:
        q = torch.nn.functional.pad(q, (0, 0, 0, 17 - rows))
        return torch._int_mm(q, weight_t)[:rows]
    return torch._int_mm(q, weight_t)


def _version_of(x: torch.Tensor) -> int | None:
    """The tensor's in-place modification counter; None where it has none (inference mode)."""
    try:
        return x._version
    except RuntimeError:
        return None


class LastInputCache:
    """Remembers what was computed from the last input tensor, one entry per thread (so a
    model shared by threads stays correct). A hit needs the very same tensor object, unchanged
    since (same in-place version counter), and the same `tag`. A plain dict rather than
    `threading.local`, so that models holding one can still be deep-copied."""

    def __init__(self) -> None:
        self._entries: dict[int, tuple] = {}

    def get_or_compute(self, x: torch.Tensor, tag, compute):
        if torch.compiler.is_compiling():
            # In a compiled decode step the compiler computes an expression that several
            # layers share only once itself; identity, version and thread are Python state it
            # would otherwise guard on and recompile for at every call.
            return compute()
        thread = threading.get_ident()
        entry = self._entries.get(thread)
        version = _version_of(x)
        if (entry is not None and entry[0] is x and version is not None
                and entry[1] == version and entry[2] == tag):
            return entry[3]
        value = compute()
        self._entries[thread] = (x, version, tag, value)
        return value

    def clear(self) -> None:
        self._entries.clear()


class SharedInputQuantizer:
    """Quantizes a layer input once for every Linear that reads the same tensor.

    q/k/v read one normed hidden state, gate/up another. At batch 1 the handful of small ops
    that quantize an activation cost three times the int8 product itself, so sharing them is
    what makes the int8 model faster than the float one. The cache holds only the last input,
    recognised by identity and by its in-place version counter, so a changed or different
    tensor is always quantized afresh.
    """

    def __init__(self) -> None:
        self._last = LastInputCache()

    def __call__(self, x: torch.Tensor, granularity: str) -> tuple[torch.Tensor, torch.Tensor]:
        return self._last.get_or_compute(
            x, granularity,
            lambda: quantize_activations(x.reshape(-1, x.shape[-1]).float(), granularity),
        )

    def clear(self) -> None:
        """Drop the cached input (and the reference that keeps it alive)."""
        self._last.clear()


class Int8Linear(torch.nn.Module):
    """W8A8 replacement for `nn.Linear`, with int8 weights and dynamic int8 activations."""

    def __init__(
        self, in_features: int, out_features: int, *, bias: bool = True,
        activations: Granularity = "per_token", device=None, dtype=torch.float32,
    ) -> None:
        super().__init__()
        if activations not in GRANULARITIES:
            raise ValueError(f"activations must be one of {GRANULARITIES}, not {activations!r}")
        self.in_features, self.out_features = in_features, out_features
        self.activations = activations
        self.register_buffer(
            "weight_int8", torch.zeros(out_features, in_features, dtype=torch.int8, device=device)
        )
        self.register_buffer("weight_scale", torch.ones(out_features, device=device))
        self.register_buffer(
            "bias", torch.zeros(out_features, device=device, dtype=dtype) if bias else None
        )
        self.output_dtype = dtype
        # Kept out of the module tree on purpose: it holds no weights, only a cache.
        self.__dict__["input_quantizer"] = None

    def share_input_quantizer(self, quantizer: SharedInputQuantizer) -> None:
        """Let this layer reuse activations quantized by its siblings (same input tensor)."""
        self.__dict__["input_quantizer"] = quantizer

    @classmethod
    def from_linear(
        cls, linear: torch.nn.Linear, activations: Granularity = "per_token"
    ) -> Int8Linear:
        """Quantize `linear`'s weight per output channel; its bias stays in float."""
        layer = cls(
            linear.in_features, linear.out_features, bias=linear.bias is not None,
            activations=activations, device=linear.weight.device, dtype=linear.weight.dtype,
        )
        layer.load_from_linear(linear)
        return layer

    def load_from_linear(self, linear: torch.nn.Linear) -> None:
        """Quantize `linear`'s weight per output channel into this layer; bias stays float."""
        q, scale = quantize_weight(linear.weight)
        self.weight_int8.copy_(q)
        self.weight_scale.copy_(scale)
        if linear.bias is not None:
            self.bias.copy_(linear.bias.detach())

    def dequantized_weight(self) -> torch.Tensor:
        """The float weight the int8 one stands for (the reference the kernel must match)."""
        return self.weight_int8.float() * self.weight_scale[:, None]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._int8_product(x, self.out_features)

    def _int8_product(self, x: torch.Tensor, features: int) -> torch.Tensor:
        """x times every stored weight row (`features` of them), through the int8 kernel."""
        quantizer = self.__dict__["input_quantizer"]
        if quantizer is not None:
            q, scale = quantizer(x, self.activations)
        else:
            flat = x.reshape(-1, self.in_features).float()
            q, scale = quantize_activations(flat, self.activations)
        # The weight is kept [out, in] and passed transposed: that column-major view is the
        # layout the CPU kernel reads fastest (a row-major [in, out] copy measured 2-4x slower
        # at one row).
        out = int8_matmul(q, self.weight_int8.t()) * self.weight_scale  # int32 * f32 -> f32
        out.mul_(scale)
        if self.bias is not None:
            out.add_(self.bias)
        return out.to(self.output_dtype).view(*x.shape[:-1], features)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"bias={self.bias is not None}, activations={self.activations}"
        )
