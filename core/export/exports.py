"""Export a job's compressed model to a serving format, read it back with that format's
reader and score it on the job's protocol: the figure that says the file holds the model
the job measured. Written to a temporary path and renamed when complete."""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from core.engine.data import load_corpus
from core.engine.measure_config import MeasureConfig
from core.export import llama_cpp_speed
from core.export.compressed_tensors_file import write_compressed_tensors
from core.export.formats import FORMATS
from core.export.gguf_file import write_gguf
from core.export.layer_grids import float_state, grid_layers, plain_model
from core.export.readback import READERS, perplexity, read_back, token_ids_agree

# The read-back perplexity must lie this close to the job's for the export to count.
TOLERANCE = 0.01
RECORD = "OPTATLAS_EXPORT.json"


class ExportError(ValueError):
    """The export cannot be written or failed its read-back check; the message says why."""


@dataclass
class ExportedModel:
    """An export on disk and what its read-back measured."""

    path: Path
    bytes: int
    format: str
    details: dict = field(default_factory=dict)


def sample_text(corpus: str) -> str:
    """The protocol's evaluation text (what tokenizers and engines are checked on)."""
    return load_corpus(corpus).split("evaluation")


def _bytes(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def _write(fmt: str, model, tokenizer, folder: Path, name: str) -> tuple[Path, dict]:
    layers = grid_layers(model)
    if fmt == "gguf":
        target = folder / "model.gguf"
        report = write_gguf(model.config, tokenizer, float_state(model, layers), layers,
                            target, name=name)
        details = {"tensor_types": report.summary()}
        if report.requantized:
            reasons = sorted(set(report.requantized.values()))
            details["requantized"] = {"layers": len(report.requantized), "why": reasons}
        return target, details
    if fmt == "compressed-tensors":
        return folder, write_compressed_tensors(model, tokenizer, layers, folder)
    plain_model(model, layers).save_pretrained(folder, safe_serialization=True)
    if hasattr(tokenizer, "save_pretrained"):
        tokenizer.save_pretrained(folder)
    return folder, {"dtype": "float32", "layers_unpacked": len(layers)}


def export_model(model, tokenizer, fmt: str, folder: Path, *, name: str,
                 measure: MeasureConfig, reference_ppl: float | None,
                 progress=None) -> ExportedModel:
    """Write `model` as `fmt` into `folder` (replacing an earlier export there), read it
    back and score it; ExportError when it cannot be written or reads back wrong."""
    if fmt not in FORMATS:
        raise ExportError(f"unknown export format {fmt!r}: choose one of {', '.join(FORMATS)}")
    report = progress or (lambda stage, fraction: None)
    folder.parent.mkdir(parents=True, exist_ok=True)
    partial = folder.with_name(f".{folder.name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir()
    try:
        report("writing", 0.0)
        try:
            written, details = _write(fmt, model, tokenizer, partial, name)
        except (ValueError, KeyError, NotImplementedError) as error:
            raise ExportError(f"{fmt} export: {error}") from error
        report("reading back", 0.0)
        back, back_tokenizer = read_back(fmt, written)
        ppl, tokens = perplexity(back, back_tokenizer, measure,
                                 progress=lambda f: report("reading back: perplexity", f))
        del back
        text = sample_text(measure.corpus)
        check = {"reader": READERS[fmt], "ppl": ppl, "tokens": tokens,
                 "windows": measure.eval_windows, "corpus": measure.corpus,
                 "tokenizer_agrees": token_ids_agree(back_tokenizer, tokenizer,
                                                     text[:2000])}
        if reference_ppl:
            check["reference_ppl"] = reference_ppl
            check["change"] = ppl / reference_ppl - 1
            check["within_tolerance"] = abs(check["change"]) <= TOLERANCE
        details["readback"] = check
        if fmt == "gguf" and llama_cpp_speed.available():
            report("reading back: llama.cpp speed", 0.0)
            try:
                details["engine"] = llama_cpp_speed.measure(written, text)
            except (ValueError, RuntimeError) as error:
                # The file is written and checked; only the engine's figure is missing.
                details["engine"] = {"engine": "llama.cpp", "error": str(error)}
        (partial / RECORD).write_text(json.dumps({"format": fmt, **details}, indent=2))
        if folder.exists():
            shutil.rmtree(folder)
        partial.rename(folder)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    path = folder / written.relative_to(partial) if written != partial else folder
    return ExportedModel(path, _bytes(folder), fmt, details)

