"""Technique configs, their registry, and the one entry point that applies a config to a model.

Technique families live in their own packages (core/quantization, ...) and register their
handlers when imported; `core.techniques.catalog` imports them explicitly.
"""
