"""Calibration activations, one decoder layer at a time: the inputs the first layer sees,
running a layer on them, and per-input statistics (Gram matrix, mean magnitude) of Linears.
Layer-wise quantizers (GPTQ, AWQ) walk the stack with these, so memory stays near one
layer's activations instead of the whole model's."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

import torch

from core.techniques.context import ApplyContext


class _Captured(Exception):
    """Raised inside the first decoder layer to stop the forward pass once its inputs are seen."""


def decoder_layers(model: torch.nn.Module) -> torch.nn.ModuleList:
    """The model's stack of decoder layers (Llama-style `model.model.layers` and kin)."""
    base = model.get_decoder() if hasattr(model, "get_decoder") else getattr(model, "model", None)
    layers = getattr(base, "layers", None)
    if not isinstance(layers, torch.nn.ModuleList) or len(layers) == 0:
        raise ValueError(
            f"{type(model).__name__} has no decoder layer stack (`model.layers`); layer-wise "
            "quantizers need a transformer decoder"
        )
    return layers


def calibration_ids(context: ApplyContext, samples: int) -> torch.Tensor:
    """The first `samples` calibration sequences the job supplied, [samples, seq_len]."""
    if context.calibration is None:
        raise ValueError("this technique needs calibration data")
    return context.calibration.input_ids[:samples]


@dataclass
class LayerInputs:
    """What one decoder layer is called with: the hidden states and the rest of the call
    (attention mask, rotary embeddings, ...), which stays the same from layer to layer."""

    hidden: torch.Tensor
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)

    def run(self, layer: torch.nn.Module) -> torch.Tensor:
        """The layer's output hidden states for these inputs."""
        with torch.no_grad():
            output = layer(self.hidden, *self.args, **self.kwargs)
        # Older transformers return (hidden, attention weights, ...); newer ones the tensor.
        return output[0] if isinstance(output, tuple) else output

    def advance(self, hidden: torch.Tensor) -> LayerInputs:
        """The inputs of the next layer, given this layer's output."""
        return replace(self, hidden=hidden)


def capture_layer_inputs(model: torch.nn.Module, input_ids: torch.Tensor) -> LayerInputs:
    """Run the embeddings on `input_ids` and keep what the first decoder layer receives."""
    first = decoder_layers(model)[0]
    seen: dict = {}

    def stop(module, args, kwargs):
        seen["args"], seen["kwargs"] = args, kwargs
        raise _Captured

    handle = first.register_forward_pre_hook(stop, with_kwargs=True)
    device = next(model.parameters()).device
    try:
        with torch.no_grad():
            model(input_ids.to(device), use_cache=False)
    except _Captured:
        pass
    finally:
        handle.remove()
    args, kwargs = seen["args"], dict(seen["kwargs"])
    if args:
        hidden, args = args[0], tuple(args[1:])
    else:
        hidden = kwargs.pop("hidden_states")
    return LayerInputs(hidden, args, kwargs)


@dataclass
class InputStats:
    """Statistics of the activations entering a Linear, accumulated over calibration tokens."""

    gram: torch.Tensor  # sum of x x^T over tokens, [in, in], float32
    abs_sum: torch.Tensor  # sum of |x| per input channel, [in]
    tokens: int = 0

    @classmethod
    def empty(cls, features: int, device: torch.device) -> InputStats:
        """Statistics of no tokens yet."""
        zeros = torch.zeros(features, device=device)
        return cls(torch.zeros(features, features, device=device), zeros)

    def add(self, x: torch.Tensor) -> None:
        """Accumulate a batch of activations, [..., in]."""
        flat = x.reshape(-1, x.shape[-1]).float()
        self.gram.addmm_(flat.T, flat)
        self.abs_sum += flat.abs().sum(0)
        self.tokens += flat.shape[0]

    @property
    def hessian(self) -> torch.Tensor:
        """2 X X^T / tokens: the Hessian of the layer's squared output error in its weights."""
        return self.gram * (2.0 / max(self.tokens, 1))

    @property
    def mean_abs(self) -> torch.Tensor:
        """Mean activation magnitude per input channel."""
        return self.abs_sum / max(self.tokens, 1)


def linears_in(
    layer: torch.nn.Module, linears: dict[str, torch.nn.Linear]
) -> dict[str, torch.nn.Linear]:
    """Those of `linears` that live inside `layer`."""
    inside = {id(module) for module in layer.modules()}
    return {name: linear for name, linear in linears.items() if id(linear) in inside}


@contextmanager
def record_input_stats(linears: dict[str, torch.nn.Linear]) -> Iterator[dict[str, InputStats]]:
    """While open, every forward call of these Linears adds its input to their statistics."""
    stats = {name: InputStats.empty(linear.in_features, linear.weight.device)
             for name, linear in linears.items()}

    def hook_for(name: str):
        def record(module, args):
            stats[name].add(args[0])

        return record

    handles = [linear.register_forward_pre_hook(hook_for(name)) for name, linear in linears.items()]
    try:
        yield stats
    finally:
        for handle in handles:
            handle.remove()


def forward_with_hooks(model: torch.nn.Module, input_ids: torch.Tensor, handles: list,
                       progress: Callable[[float], None] | None = None) -> None:
    """Run `model` over the sequences of `input_ids` [n, len] one at a time (memory stays at
    one window's activations) without gradients, so that the hooks behind `handles` observe
    every layer; the hooks are removed afterwards, whatever happens."""
    device = next(model.parameters()).device
    try:
        with torch.no_grad():
            for i, sequence in enumerate(input_ids):
                model(sequence[None].to(device), use_cache=False)
                if progress:
                    progress((i + 1) / len(input_ids))
    finally:
        for handle in handles:
            handle.remove()
