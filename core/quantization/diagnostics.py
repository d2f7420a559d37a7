"""Per-layer diagnostics of a quantized model against its float reference: how far each
quantized layer's output is from the float layer's on the same calibration input, and how
outlier-heavy that input is (the channels that make activation quantization hard).

Both models see the same tokens, but only the float reference runs end to end: forward hooks
on its Linear layers hand each captured input to the quantized layer of the same name and
compare the two outputs on the spot. Every layer is therefore judged on identical input, so
the figure is that layer's own error, not error accumulated from the layers before it, and
memory stays near one layer's activations because nothing is kept but running sums."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, fields

import torch

from core.quantization.rescale import ChannelRescale, replay
from core.quantization.targets import target_linears


class RescaledModelError(ValueError):
    """The quantized model is a rescaled (function-preserving) variant of the reference."""


@dataclass(frozen=True)
class LayerDiagnostic:
    """One layer's quantization error and input outlier statistics over calibration tokens."""

    name: str
    in_features: int
    out_features: int
    relative_error: float  # ||Y_q - Y||_F / ||Y||_F on the same inputs (nan: never ran)
    outlier_ratio: float  # max over input channels of max|x_c|, over their median
    max_channel: int  # index of the input channel with the largest |x|
    max_abs: float  # max|x| over every channel and token
    median_abs: float  # median over channels of max|x_c|
    tokens: int  # calibration tokens the layer saw

    def to_dict(self) -> dict:
        """A JSON-ready dict; inf and nan become strings, which strict JSON can hold."""
        return {key: _json_number(value) for key, value in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict) -> LayerDiagnostic:
        """Rebuild from `to_dict` output."""
        kinds = {field.name: field.type for field in fields(cls)}
        unknown = set(data) - set(kinds)
        if unknown:
            raise ValueError(f"unknown LayerDiagnostic fields: {sorted(unknown)}")
        casts = {"float": float, "int": int, "str": str}
        return cls(**{key: casts[kinds[key]](value) for key, value in data.items()})


def _json_number(value):
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # "inf" / "nan": float() reads them back
    return value


class _LayerProbe:
    """Running sums for one layer: squared output error, squared reference output, and the
    per-channel maximum of |x|. The quantized layer runs on each captured input."""

    def __init__(self, reference: torch.nn.Linear, quantized: torch.nn.Module) -> None:
        self.quantized = quantized
        self.device = _device_of(quantized, reference.weight.device)
        dev = reference.weight.device
        self.error_sq = torch.zeros((), dtype=torch.float64, device=dev)
        self.reference_sq = torch.zeros((), dtype=torch.float64, device=dev)
        self.channel_peak = torch.zeros(reference.in_features, device=dev)
        self.tokens = 0

    def observe(self, x: torch.Tensor, output: torch.Tensor) -> None:
        """Compare the quantized layer with the float one on input `x`."""
        # Passed on unchanged where the devices agree: fused int8 siblings recognise a
        # shared input by tensor identity.
        quantized = self.quantized(x.to(self.device)).to(output.device)
        reference = output.float()
        self.error_sq += (quantized.float() - reference).square().sum()
        self.reference_sq += reference.square().sum()
        flat = x.detach().reshape(-1, x.shape[-1])
        torch.maximum(self.channel_peak, flat.abs().amax(0).float().to(self.channel_peak.device),
                      out=self.channel_peak)
        self.tokens += flat.shape[0]

    def result(self, name: str, reference: torch.nn.Linear) -> LayerDiagnostic:
        """The layer's diagnostic from what was accumulated."""
        peaks = self.channel_peak
        max_abs, median_abs = peaks.max().item(), peaks.median().item()
        return LayerDiagnostic(
            name=name,
            in_features=reference.in_features,
            out_features=reference.out_features,
            # nan for a layer that never ran (say, a branch these inputs do not reach): no
            # error measured is not the same as no error.
            relative_error=(math.sqrt(_ratio(self.error_sq.item(), self.reference_sq.item()))
                            if self.tokens else math.nan),
            # All-silent input: no channel stands out, so the ratio is 1, not 0/0.
            outlier_ratio=_ratio(max_abs, median_abs) if max_abs > 0 else 1.0,
            max_channel=int(peaks.argmax().item()),
            max_abs=max_abs,
            median_abs=median_abs,
            tokens=self.tokens,
        )


def _ratio(numerator: float, denominator: float) -> float:
    """numerator / denominator, with 0/0 = 0 (nothing to get wrong) and x/0 = inf."""
    if denominator == 0:
        return 0.0 if numerator == 0 else math.inf
    return numerator / denominator


def _device_of(module: torch.nn.Module, default: torch.device) -> torch.device:
    """Where a module's weights live (Int8Linear keeps them in buffers, not parameters)."""
    for tensor in list(module.parameters()) + list(module.buffers()):
        return tensor.device
    return default


def _select_layers(
    reference: torch.nn.Module, quantized: torch.nn.Module, names: Iterable[str] | None
) -> dict[str, tuple[torch.nn.Linear, torch.nn.Module]]:
    """(float layer, quantized layer) by name; explicit names must exist in both models."""
    linears = target_linears(reference, skip=())
    if names is None:
        chosen = [name for name in linears if _submodule(quantized, name) is not None]
        if not chosen:
            raise ValueError("the quantized model has none of the reference model's Linear "
                             "layers; is it the same architecture?")
    else:
        chosen = list(names)
        not_linear = [name for name in chosen if name not in linears]
        if not_linear:
            raise ValueError(f"not Linear layers of the reference model: {not_linear}")
        missing = [name for name in chosen if _submodule(quantized, name) is None]
        if missing:
            raise ValueError(f"layers missing from the quantized model: {missing}")
    layers = {name: (linears[name], _submodule(quantized, name)) for name in chosen}
    reshaped = [f"{name} ({ref.in_features}->{ref.out_features} became "
                f"{q.in_features}->{q.out_features})"
                for name, (ref, q) in layers.items() if _shape(q) not in (None, _shape(ref))]
    if reshaped:
        # Structured pruning (heads, MLP channels) removes rows or columns: a pruned layer no
        # longer takes the float layer's input, so there is no output error to compare.
        raise ValueError(
            f"{len(reshaped)} layer(s) changed shape, as structured pruning does, so they no "
            f"longer take the float layers' inputs: {'; '.join(reshaped[:3])}"
            + (f" and {len(reshaped) - 3} more" if len(reshaped) > 3 else ""))
    return layers


def _shape(layer: torch.nn.Module) -> tuple[int, int] | None:
    """(in, out) features of a Linear-like layer, None where it does not say."""
    features = getattr(layer, "in_features", None), getattr(layer, "out_features", None)
    return None if None in features else features


def _submodule(model: torch.nn.Module, name: str) -> torch.nn.Module | None:
    try:
        return model.get_submodule(name)
    except AttributeError:
        return None


def rescaled_parameters(reference: torch.nn.Module, quantized: torch.nn.Module) -> list[str]:
    """Parameters outside the Linear layers that differ between the two models.

    SmoothQuant and AWQ fold per-channel scales into the norms (and AWQ into some Linears'
    output rows) before quantizing: the model computes the same function, but its layers no
    longer take the float layers' inputs, so a layer-by-layer comparison on the reference's
    inputs would measure the rescaling, not the rounding. A changed norm gives that away."""
    layers = tuple(f"{name}." for name in target_linears(reference, skip=()))
    quantized_params = dict(quantized.named_parameters())
    changed = []
    for name, param in reference.named_parameters():
        if name.startswith(layers) or name not in quantized_params:
            continue
        other = quantized_params[name]
        if other.shape != param.shape or not torch.equal(other.detach().to(param.device), param):
            changed.append(name)
    return changed


def layer_diagnostics(
    reference: torch.nn.Module,
    quantized: torch.nn.Module,
    input_ids: torch.Tensor,
    *,
    names: Iterable[str] | None = None,
    device: torch.device | str | None = None,
    progress: Callable[[str, float], None] | None = None,
    rescales: list[ChannelRescale] | None = None,
) -> list[LayerDiagnostic]:
    """Per-layer relative output error of `quantized` against `reference`, and the outlier
    statistics of each layer's input, over the calibration sequences `input_ids` [n, len].

    `names` defaults to every Linear of the reference that the quantized model also has.
    `device` is where the ids go (default: the reference model's). A recipe that folded
    channel scales into the model (SmoothQuant, AWQ) lists them in its report's `rescales`:
    pass them, and the comparison runs against a copy of the reference rescaled the same
    way (same function, the quantized layers' coordinates); the outlier statistics are then
    those of the inputs the quantized layers really see. Without them such a model raises
    `RescaledModelError`."""
    if rescales:
        reference = copy.deepcopy(reference)
        replay(reference, rescales)
    changed = rescaled_parameters(reference, quantized)
    if changed:
        raise RescaledModelError(
            "the quantized model's non-Linear parameters differ from the reference's (a "
            "recipe such as SmoothQuant or AWQ folded scales into them), so its layers no "
            f"longer take the reference layers' inputs: {changed[:4]}"
            + (f" and {len(changed) - 4} more" if len(changed) > 4 else "")
            + "; pass the recipe report's rescales to compare in the same coordinates"
        )
    layers = _select_layers(reference, quantized, names)
    probes = {name: _LayerProbe(ref, q) for name, (ref, q) in layers.items()}
    busy = False  # the quantized layer may be the reference layer itself (same model passed)

    def hook_for(probe: _LayerProbe):
        def compare(module, args, kwargs, output):
            nonlocal busy
            if busy:
                return
            busy = True
            try:
                probe.observe(args[0] if args else kwargs["input"], output)
            finally:
                busy = False

        return compare

    handles = [ref.register_forward_hook(hook_for(probes[name]), with_kwargs=True)
               for name, (ref, _) in layers.items()]
    target = torch.device(device) if device is not None else next(reference.parameters()).device
    try:
        # no_grad, not inference_mode: quanto's quantized tensors fail under inference mode.
        with torch.no_grad():
            # One sequence at a time keeps memory at one window's activations.
            for i, sequence in enumerate(input_ids):
                reference(sequence[None].to(target), use_cache=False)
                if progress:
                    progress("diagnostics", (i + 1) / len(input_ids))
    finally:
        for handle in handles:
            handle.remove()
    return [probes[name].result(name, ref) for name, (ref, _) in layers.items()]


def format_diagnostics(rows: list[LayerDiagnostic], top: int | None = 10) -> str:
    """A table of the `top` layers with the largest relative error (all when None)."""
    worst = sorted(rows, key=_badness, reverse=True)[: top if top is not None else len(rows)]
    if not worst:
        return "no layers"
    width = max(len("layer"), *(len(r.name) for r in worst))
    lines = [f"{'layer':<{width}}  {'in->out':>11}  {'rel_error':>9}  {'outlier':>8}  "
             f"{'channel':>7}  {'max|x|':>9}  {'median|x|':>9}"]
    for r in worst:
        lines.append(
            f"{r.name:<{width}}  {f'{r.in_features}->{r.out_features}':>11}  "
            f"{r.relative_error:>9.4f}  {r.outlier_ratio:>7.1f}x  {r.max_channel:>7}  "
            f"{r.max_abs:>9.3g}  {r.median_abs:>9.3g}"
        )
    shown = f"{len(worst)} of {len(rows)}" if len(worst) < len(rows) else f"all {len(rows)}"
    tokens = max(r.tokens for r in worst)
    lines.append(f"({shown} layers, worst relative error first; outlier = max|x_c| / median over "
                 f"channels, on {tokens} calibration tokens)")
    return "\n".join(lines)


def _badness(row: LayerDiagnostic) -> float:
    """Sort key: relative error, with nan (a broken output) worse than anything."""
    return math.inf if math.isnan(row.relative_error) else row.relative_error
