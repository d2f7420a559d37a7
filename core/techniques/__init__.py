"""What a technique config is (config, torch-free), the registry from config type to handler,
and the one entry point that applies a config to a model (registry).

The configs themselves are listed in core.recipes (torch-free, so the app can build them).
Technique families live in their own packages (core/quantization, core/inference, ...) and
register their handlers when imported.
"""
