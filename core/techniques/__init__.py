"""Applying technique configs to a model (torch): what a handler works with (context), the
registry from config type to handler and the one entry point, `apply` (registry).

The configs themselves and their torch-free base live in core.recipes, so the app can build
them; nothing here is imported by core.recipes. Technique families live in their own
packages (core/quantization, core/inference, ...) and register their handlers when imported.
"""
