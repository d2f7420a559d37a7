"""Where each recipe's code lives and what it says: one file per recipe,
`core/<family>/<slug with underscores>.py`, whose central function a technique's page shows
beside its description.

Torch-free: the file is found by that convention and read as text (parsed with `ast`, never
imported), so the app can show the code without loading the engine. A test keeps every
registered handler in the file this module names.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import core
from core.recipes.base import TechniqueConfig

# The installed package's own folder: the code shown is the code that runs.
CORE_DIR = Path(core.__file__).resolve().parent


@dataclass(frozen=True)
class HandlerCode:
    """A recipe's central function (or class) as written in its handler file."""

    recipe: str
    path: str  # as a reader finds it in the repository, e.g. "core/quantization/gptq.py"
    name: str  # the function or class shown, e.g. "gptq_quantize"
    handler: str | None  # the registered entry point, e.g. "apply_gptq"
    first_line: int
    last_line: int
    source: str


def family_of(config_type: type[TechniqueConfig]) -> str:
    """The technique family (package under core/) a config type belongs to, named by the
    core.recipes module that defines it: core.recipes.pruning -> "pruning"."""
    return config_type.__module__.rsplit(".", 1)[-1]


def handler_module(recipe: str, config_type: type[TechniqueConfig]) -> str:
    """The dotted module that must hold the recipe's handler."""
    return f"core.{family_of(config_type)}.{recipe.replace('-', '_')}"


def handler_path(recipe: str, config_type: type[TechniqueConfig]) -> str:
    """The handler's file, relative to the project root."""
    return handler_module(recipe, config_type).replace(".", "/") + ".py"


def _registered_handler(tree: ast.Module) -> str | None:
    # The function decorated with @register(...): the entry point `apply` calls.
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            for decorator in node.decorator_list:
                call = decorator.func if isinstance(decorator, ast.Call) else decorator
                if isinstance(call, ast.Name) and call.id == "register":
                    return node.name
    return None


def handler_code(recipe: str, config_type: type[TechniqueConfig]) -> HandlerCode | None:
    """The central function of a recipe as its installed file has it, or None when the
    file or the function is missing (the layout test fails then; a page shows no code)."""
    relative = handler_path(recipe, config_type)
    file = CORE_DIR.parent / relative
    try:
        text = file.read_text(encoding="utf-8")
        tree = ast.parse(text)
    except (OSError, SyntaxError, ValueError):
        return None
    handler = _registered_handler(tree)
    wanted = config_type.algorithm or handler
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.ClassDef) and node.name == wanted:
            first = min([node.lineno] + [d.lineno for d in node.decorator_list])
            lines = text.splitlines()[first - 1:node.end_lineno]
            return HandlerCode(recipe=recipe, path=relative, name=node.name, handler=handler,
                               first_line=first, last_line=node.end_lineno,
                               source="\n".join(lines))
    return None
