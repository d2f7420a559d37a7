"""The model export formats, by name, with what each is for. Torch-free: the app and the
job spec list them without loading the engine."""

from __future__ import annotations

FORMATS = ("compressed-tensors", "gguf", "safetensors")
FORMAT_HELP = {
    "compressed-tensors": "for vLLM: W4A16 / W8A16 weight-only grids, packed, and W8A8",
    "gguf": "for llama.cpp: Q4_0 / Q4_1 / Q8_0 blocks from the job's own grid",
    "safetensors": "plain float checkpoint for transformers (the rounded weights, unpacked)",
}

# Recipes whose layers quantize their inputs at run time, and those no format here holds.
ACTIVATION_RECIPES = ("w8a8", "smoothquant")
UNEXPORTABLE = {"llm-int8": "LLM.int8 multiplies its outlier input features in float at run "
                            "time, which no export format here holds"}


def format_problem(fmt: str, recipes: list[str]) -> str | None:
    """Why a run made of these recipe steps cannot be exported as `fmt`, known before any
    work (the writers check the model itself too); None when it may be."""
    for recipe in recipes:
        if recipe in UNEXPORTABLE:
            return UNEXPORTABLE[recipe]
    if fmt == "gguf" and any(recipe in ACTIVATION_RECIPES for recipe in recipes):
        return ("GGUF holds weights only, and this run also rounds its activations to int8 "
                "(W8A8): export it as compressed-tensors")
    return None


def describe(fmt: str, size: int, details: dict) -> str:
    """One line on an export: its format, size, what it holds and what it read back as."""
    line = f"{fmt} · {size / 2**20:.1f} MiB"
    if details.get("tensor_types"):
        line += f" ({details['tensor_types']})"
    elif details.get("scheme"):
        line += f" ({details['scheme']}, {details.get('format', '')})"
    check = details.get("readback") or {}
    if "ppl" in check:
        line += f" · read back by {check.get('reader', '?')}: perplexity {check['ppl']:.4g}"
        if "change" in check:
            line += f", job {check['reference_ppl']:.4g} ({check['change']:+.2%})"
    engine = details.get("engine")
    if engine and "error" in engine:
        line += f" · {engine['engine']} could not run it: {engine['error']}"
    elif engine:
        line += (f" · in {engine['engine']} ({engine['threads']} threads): decode "
                 f"{engine['decode_tok_s_b1']:.1f} tokens/s at batch 1, prefill "
                 f"{engine['prefill_ms']:.0f} ms")
    requantized = details.get("requantized")
    if requantized:
        line += (f" · {requantized['layers']} layers re-quantized: "
                 f"{'; '.join(requantized['why'])}")
    return line
