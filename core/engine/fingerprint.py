"""What identifies a model's outputs, so a cached baseline is never served for another model."""

from __future__ import annotations

import hashlib

import torch
import transformers

from core.engine.kv import cache_option


def weights_digest(model: torch.nn.Module) -> str:
    """A cheap digest of the model: its module structure (which names replaced layers and
    their settings) and, for every parameter and buffer, name, shape, dtype, sum and sum of
    squares. A model changed in place, or a folder overwritten, gets a new digest."""
    digest = hashlib.sha256(str(model).encode())
    tensors = list(model.named_parameters()) + list(model.named_buffers())
    with torch.no_grad():
        for name, parameter in tensors:
            tensor = parameter.detach()
            if hasattr(tensor, "dequantize"):  # packed formats: digest what they compute with
                tensor = tensor.dequantize()
            values = tensor.double()
            digest.update(
                f"{name}|{tuple(tensor.shape)}|{parameter.dtype}|"
                f"{values.sum().item():.10e}|{values.square().sum().item():.10e}\n".encode()
            )
    return digest.hexdigest()


def model_fingerprint(loaded) -> str:
    """The baseline cache key of a loaded model: its source and resolved revision, dtype,
    device type, library versions, the digest of its weights, and its KV cache option if it
    has one (the same weights with a quantized cache give other outputs)."""
    parts = [
        loaded.spec.key,
        getattr(loaded.model.config, "_commit_hash", None) or "",
        str(loaded.dtype),
        loaded.device.type,
        torch.__version__,
        transformers.__version__,
        weights_digest(loaded.model),
    ]
    option = cache_option(loaded.model)
    if option is not None:  # appended only when set: default models keep their fingerprints
        parts.append(f"kv-cache:{option.label}")
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:24]
