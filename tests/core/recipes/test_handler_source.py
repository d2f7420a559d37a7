"""One technique, one file: every recipe's handler sits in core/<family>/<slug>.py, every
runnable taxonomy node reaches it in one hop, and its central function reads from there."""

from __future__ import annotations

import importlib
import inspect
import subprocess
import sys
from pathlib import Path

import pytest

import core.distillation  # noqa: F401  (registers knowledge distillation)
import core.inference  # noqa: F401  (registers the inference-time techniques)
import core.lowrank  # noqa: F401  (registers low-rank factorization)
import core.pruning  # noqa: F401  (registers the pruners)
import core.quantization  # noqa: F401  (registers the quantizers)
from core.recipes import config_types
from core.recipes.handler_source import handler_code, handler_module, handler_path
from core.techniques.registry import handler_for
from taxonomy.loader import load_taxonomy

REPO_ROOT = Path(__file__).resolve().parents[3]
RECIPES = sorted(config_types())


@pytest.mark.parametrize("recipe", RECIPES)
def test_the_handler_lives_in_the_file_named_after_its_slug(recipe):
    config_type = config_types()[recipe]
    handler = handler_for(config_type)
    assert handler is not None, f"{recipe} has no registered handler"
    family = config_type.__module__.removeprefix("core.recipes.")
    assert handler.__module__ == f"core.{family}.{recipe.replace('-', '_')}"
    assert handler.__module__ == handler_module(recipe, config_type)
    assert (REPO_ROOT / handler_path(recipe, config_type)).is_file()


def test_one_file_holds_one_handler():
    modules = [handler_for(t).__module__ for t in config_types().values()]
    assert len(modules) == len(set(modules))


def test_every_runnable_taxonomy_node_resolves_to_its_handler_file():
    taxonomy = load_taxonomy()
    runnable = [node for node in taxonomy.nodes if node.runnable and node.runnable.recipe]
    assert runnable
    for node in runnable:
        config_type = config_types().get(node.runnable.recipe)
        assert config_type is not None, f"{node.slug}: no config for {node.runnable.recipe}"
        code = handler_code(node.runnable.recipe, config_type)
        assert code is not None, f"{node.slug}: no code found for {node.runnable.recipe}"
        assert code.path == f"core/{config_type.__module__.rsplit('.', 1)[-1]}/" \
                            f"{node.runnable.recipe.replace('-', '_')}.py"


@pytest.mark.parametrize("recipe", RECIPES)
def test_the_central_function_is_defined_in_the_handler_file_and_shown_whole(recipe):
    config_type = config_types()[recipe]
    code = handler_code(recipe, config_type)
    module = importlib.import_module(handler_module(recipe, config_type))
    shown = getattr(module, code.name)
    # Defined there, not imported from a helper: the page shows where the algorithm is.
    assert shown.__module__ == module.__name__
    assert code.handler == handler_for(config_type).__name__
    # Whole: from its first decorator to its last line, exactly as inspect reads it.
    assert code.source.strip() == inspect.getsource(shown).strip()
    lines = (REPO_ROOT / code.path).read_text().splitlines()
    assert "\n".join(lines[code.first_line - 1:code.last_line]) == code.source


def test_a_missing_file_shows_no_code_instead_of_failing(tmp_path, monkeypatch):
    import core.recipes.handler_source as handler_source

    monkeypatch.setattr(handler_source, "CORE_DIR", tmp_path / "core")
    assert handler_code("gptq", config_types()["gptq"]) is None


def test_the_code_is_found_without_importing_torch():
    code = ("import sys; from core.recipes import config_types; "
            "from core.recipes.handler_source import handler_code; "
            "c = handler_code('gptq', config_types()['gptq']); "
            "assert c.name == 'gptq_quantize' and 'def gptq_quantize' in c.source; "
            "assert 'torch' not in sys.modules")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
