"""A compressed model saved to disk: safetensors weights, config, tokenizer and a short model
card of its measured figures, written to a temporary folder and renamed when complete, so a
folder under its final name is never half written."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from core.engine.metrics import METRICS, format_value
from core.engine.models import LoadedModel
from core.engine.paths import optatlas_home
from core.engine.results import Measurement
from core.jobs.spec import JobSpec


@dataclass(frozen=True)
class SavedModel:
    """Where a job's model was saved, and how big it is."""

    path: Path
    bytes: int
    format: str = "safetensors"


def artifacts_dir() -> Path:
    """Saved models, one folder per job: `OPTATLAS_ARTIFACTS_DIR` (a cluster's shared folder,
    which every node mounts at the same path), default `OPTATLAS_HOME/artifacts`."""
    shared = os.environ.get("OPTATLAS_ARTIFACTS_DIR")
    return Path(shared).expanduser() if shared else optatlas_home() / "artifacts"


def job_folder(job_id: int) -> Path:
    """The folder a job's model is saved to."""
    return artifacts_dir() / f"job-{job_id}"


def export_folder(job_id: int, fmt: str) -> Path:
    """Where job `job_id`'s model is exported to in format `fmt`."""
    # Beside the saved-model folder, not in it: saving the model again replaces that folder.
    return artifacts_dir() / f"job-{job_id}-{fmt}"


def model_card(spec: JobSpec, measurement: Measurement, job_id: int) -> str:
    """A README.md for the saved model: what was done to it and what it measured."""
    lines = [
        f"# {measurement.name}",
        "",
        f"Saved by OptAtlas job {job_id}: `{spec.model}` with the steps below, measured on "
        f"{measurement.device_name} ({measurement.device}, {measurement.dtype}).",
        "",
        "## Steps",
        *[f"{i}. `{name}`" for i, name in enumerate(spec.step_names(), start=1)],
        "",
        f"## Measured (execution: {measurement.execution})",
        "",
        "| metric | value |",
        "|---|---|",
        *[f"| {name} | {format_value(name, value)} |"
          for name, value in measurement.metrics.items() if name in METRICS and value is not None],
        "",
        "Protocol: " + ", ".join(f"{k}={v}" for k, v in measurement.protocol.items()),
        "",
    ]
    if measurement.execution == "simulated":
        lines.append("The weights were rounded but are stored in float (simulated quantization):"
                     " the file is as large as the original.")
    return "\n".join(lines) + "\n"


def _folder_bytes(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


def save_model(loaded: LoadedModel, folder: Path, *, job_id: int, spec: JobSpec,
               measurement: Measurement) -> SavedModel:
    """Write the model to `folder` (replacing an earlier attempt's) via a temporary folder."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    partial = folder.with_name(f".{folder.name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    try:
        loaded.model.save_pretrained(partial, safe_serialization=True)
        if hasattr(loaded.tokenizer, "save_pretrained"):
            loaded.tokenizer.save_pretrained(partial)
        (partial / "README.md").write_text(model_card(spec, measurement, job_id))
        if folder.exists():
            shutil.rmtree(folder)
        partial.rename(folder)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return SavedModel(folder, _folder_bytes(folder))

