"""Int8Linear: the int8 kernel agrees with its float reference, and weights really shrink."""

from __future__ import annotations

import pytest
import torch

from core.engine.memory import stored_bytes
from core.quantization.int8_linear import Int8Linear, quantize_activations


def _layer(in_features=96, out_features=40, bias=True, seed=0):
    torch.manual_seed(seed)
    return torch.nn.Linear(in_features, out_features, bias=bias)


def _float_reference(layer: Int8Linear, x: torch.Tensor) -> torch.Tensor:
    """The same arithmetic in float: dequantized activations times dequantized weights."""
    rows = x.reshape(-1, layer.in_features)
    q, scale = quantize_activations(rows, layer.activations)
    out = (q.float() * scale) @ layer.dequantized_weight().T
    if layer.bias is not None:
        out = out + layer.bias
    return out.reshape(*x.shape[:-1], layer.out_features)


@pytest.mark.parametrize("activations", ["per_tensor", "per_token"])
@pytest.mark.parametrize("tokens", [1, 5, 33])
def test_int8_kernel_matches_its_float_reference(activations, tokens):
    linear = _layer()
    layer = Int8Linear.from_linear(linear, activations)
    x = torch.randn(2, tokens, 96)
    with torch.no_grad():
        out = layer(x)
        # Exact integer products: only float rounding of the rescale separates the two.
        torch.testing.assert_close(out, _float_reference(layer, x), rtol=1e-5, atol=1e-5)
        # And int8 error stays small against the unquantized layer.
        exact = linear(x)
    relative = (out - exact).norm() / exact.norm()
    assert out.shape == exact.shape and out.dtype == torch.float32
    assert relative < 0.02


def test_per_token_scales_beat_per_tensor_with_an_outlier_row():
    linear = _layer(bias=False)
    x = torch.randn(8, 96)
    x[0] *= 100  # one loud token wrecks a shared scale for the quiet ones
    exact = linear(x).detach()
    errors = {
        activations: (Int8Linear.from_linear(linear, activations)(x) - exact)[1:].norm().item()
        for activations in ("per_tensor", "per_token")
    }
    assert errors["per_token"] < 0.2 * errors["per_tensor"]


def test_stored_weight_bytes_drop_about_fourfold():
    linear = _layer(256, 128, bias=False)
    layer = Int8Linear.from_linear(linear)
    assert layer.weight_int8.dtype == torch.int8
    ratio = stored_bytes(linear) / stored_bytes(layer)
    # int8 weights plus one float scale per output channel: just under 4x.
    assert 3.8 < ratio <= 4.0


def test_unknown_granularity_is_rejected():
    with pytest.raises(ValueError, match="per_token"):
        Int8Linear(8, 8, activations="per_channel")


def _siblings(shared: bool):
    """q/k/v-like layers reading one input, optionally quantizing it once for all three."""
    from core.quantization.int8_linear import SharedInputQuantizer

    layers = [Int8Linear.from_linear(_layer(96, out, seed=i)) for i, out in enumerate((40, 8, 8))]
    if shared:
        quantizer = SharedInputQuantizer()
        for layer in layers:
            layer.share_input_quantizer(quantizer)
    return layers


def test_siblings_sharing_an_input_compute_what_separate_layers_do():
    x = torch.randn(1, 3, 96)
    with torch.no_grad():
        separate = [layer(x) for layer in _siblings(shared=False)]
        together = [layer(x) for layer in _siblings(shared=True)]
    for alone, shared in zip(separate, together):
        torch.testing.assert_close(shared, alone, rtol=0, atol=0)


def test_a_shared_quantizer_requantizes_an_input_changed_in_place():
    first, second, _ = _siblings(shared=True)
    x = torch.randn(4, 96)
    with torch.no_grad():
        first(x)
        x.mul_(3.0)  # same tensor object, new values: the cached int8 copy is stale
        got = second(x)
        expected = _siblings(shared=False)[1](x)
    torch.testing.assert_close(got, expected, rtol=0, atol=0)


def test_a_shared_quantizer_works_under_inference_mode():
    layers = _siblings(shared=True)
    with torch.inference_mode():
        x = torch.randn(2, 96)
        outs = [layer(x) for layer in layers]
    assert [out.shape[-1] for out in outs] == [40, 8, 8]
