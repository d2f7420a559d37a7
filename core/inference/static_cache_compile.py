"""static-cache-compile: the decode loop's cache and compilation, a static KV cache (buffers
preallocated for the whole generation) with the forward pass compiled by torch.compile, a
dynamic cache, or no cache at all. No weight changes: applying the config attaches a
decoding option (see core.engine.decoding) that the engine's decode timing runs through
`generate`.

The compiled forward is swapped in only while the option's generation runs, and out again
afterwards, so the quality pass and the cache measurements keep the plain forward (their
shapes change from call to call, and each new shape would be compiled again)."""

from __future__ import annotations

from contextlib import contextmanager

import torch

from core.engine.decoding import DecodingOption, set_decoding
from core.recipes.inference import CacheCompileConfig
from core.techniques.context import ApplyContext, ApplyReport
from core.techniques.registry import register

CACHE_ARGUMENTS = {
    # disable_compile: transformers compiles a static-cache generate by itself on a GPU; the
    # option compiles (or not) on its own terms, on every device alike.
    "static": {"cache_implementation": "static", "disable_compile": True},
    "dynamic": {},
    "off": {"use_cache": False},
}


def compiled_forward(model: torch.nn.Module, mode: str):
    """A context factory that runs `model` with its forward compiled (compiled once, on the
    first entry; torch.compile itself compiles lazily, on the first call of each shape)."""
    compiled: dict = {}

    @contextmanager
    def swapped():
        previous = model.__dict__.get("forward")
        if "forward" not in compiled:
            # Shapes vary between prefill and decode and between batch sizes: let dynamo
            # mark what varies dynamic instead of compiling every shape anew.
            compiled["forward"] = torch.compile(model.forward, mode=mode)
        model.forward = compiled["forward"]
        try:
            yield
        finally:
            if previous is None:
                model.__dict__.pop("forward", None)
            else:
                model.forward = previous

    return swapped


@register(CacheCompileConfig)
def apply_cache_compile(
    model: torch.nn.Module, config: CacheCompileConfig, context: ApplyContext
) -> ApplyReport:
    """Make the engine decode `model` with the chosen cache, compiled or not."""
    label = {"static": "static KV cache", "dynamic": "dynamic KV cache", "off": "no KV cache"}[
        config.cache
    ] + (f", torch.compile ({config.compile_mode})" if config.compile else ", eager")
    notes = ()
    if config.compile:
        notes = (
            "torch.compile compiles in the untimed warm-up run of each measured shape; "
            "the timed runs reuse the compiled code",
        )
    set_decoding(
        model,
        DecodingOption(
            label=label,
            generate_kwargs=dict(CACHE_ARGUMENTS[config.cache]),
            forward_context=compiled_forward(model, config.compile_mode)
            if config.compile
            else None,
            notes=notes,
        ),
    )
    context.report("static-cache-compile", 1.0)
    return ApplyReport(
        config.recipe, config.execution, 0, {"decoding": label, "weights_changed": 0}
    )
