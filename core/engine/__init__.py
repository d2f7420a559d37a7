"""The engine: load a model, evaluate it under a recorded protocol, measure speed, memory, size.

Usable from a script or a notebook with no database:

    from core.engine import load_model, measure_model, MeasureConfig
    loaded = load_model("default")
    result = measure_model(loaded, MeasureConfig())
    print(result.table())

Names are imported on first use, so that `import core.engine.cli` stays free of torch.
"""

from importlib import import_module

_EXPORTS = {
    "LoadedModel": "core.engine.models",
    "ModelNotFoundError": "core.engine.model_refs",
    "load_model": "core.engine.models",
    "parse_model_ref": "core.engine.model_refs",
    "MeasureConfig": "core.engine.measure_config",
    "measure_model": "core.engine.measure",
    "Measurement": "core.engine.results",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'core.engine' has no attribute {name!r}")
