"""Exports round trip on a tiny model: written as GGUF and compressed-tensors from the job's
own grid, read back with each format's reader, they compute what the job's model did; grids
a format cannot hold are re-quantized and said so (GGUF) or refused with the reason
(compressed-tensors); and the read-back perplexity is kept with the export."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

import core.quantization  # noqa: F401  (registers the quantizers)
from core.engine.measure_config import MeasureConfig
from core.engine.models import load_model
from core.export.compressed_tensors_file import CompressedTensorsExportError
from core.export.exports import ExportError, export_model
from core.export.gguf_file import GGUFExportError, write_gguf
from core.export.layer_grids import grid_layers
from core.export.readback import perplexity, read_back
from core.recipes import build_config
from core.techniques.context import ApplyContext, CalibrationData
from core.techniques.registry import apply

CALIBRATION = torch.randint(0, 250, (4, 16), generator=torch.Generator().manual_seed(1))
IDS = torch.randint(0, 250, (2, 24), generator=torch.Generator().manual_seed(5))
PROTOCOL = MeasureConfig(eval_windows=1, seq_len=128, measure_speed=False)


def _compressed(recipe: str, settings: dict):
    tiny = load_model("tiny")
    apply(tiny.model, build_config(recipe, settings),
          ApplyContext(torch.device("cpu"), CalibrationData(CALIBRATION)))
    return tiny


def _logits(model) -> torch.Tensor:
    with torch.no_grad():
        return model(IDS).logits


@pytest.mark.parametrize(("recipe", "settings", "blocks"), [
    ("rtn", {"bits": 4, "group_size": 32}, "Q4_1"),
    ("rtn", {"bits": 4, "group_size": 64, "symmetric": True}, "Q4_0"),
    ("rtn", {"bits": 4, "group_size": 32, "pack": "cpu_int4"}, "Q4_1"),
    ("gptq", {"bits": 4, "group_size": 32, "act_order": True, "static_groups": True}, "Q4_1"),
    ("rtn", {"bits": 8, "group_size": None, "symmetric": True, "pack": "cpu_int8"}, "Q8_0"),
])
def test_gguf_holds_the_jobs_own_grid_and_reads_back_to_the_same_model(tmp_path, recipe,
                                                                      settings, blocks):
    tiny = _compressed(recipe, settings)
    exported = export_model(tiny.model, tiny.tokenizer, "gguf", tmp_path / "gguf",
                            name="test", measure=PROTOCOL, reference_ppl=None)
    assert f"14 {blocks}" in exported.details["tensor_types"]
    assert "requantized" not in exported.details
    back, tokenizer = read_back("gguf", exported.path)
    # Only the scales' float16 rounding (and float16 embeddings) stand between them.
    torch.testing.assert_close(_logits(back), _logits(tiny.model), rtol=0, atol=1e-2)
    assert exported.details["readback"]["tokenizer_agrees"]
    assert tokenizer("def f(x):").input_ids == tiny.tokenizer("def f(x):").input_ids


def test_a_grid_gguf_blocks_cannot_hold_is_requantized_and_the_export_says_so(tmp_path):
    tiny = _compressed("gptq", {"bits": 4, "group_size": 32, "act_order": True})
    exported = export_model(tiny.model, tiny.tokenizer, "gguf", tmp_path / "gguf",
                            name="test", measure=PROTOCOL, reference_ppl=None)
    requantized = exported.details["requantized"]
    assert requantized["layers"] == 14 and "act_order" in requantized["why"][0]


@pytest.mark.parametrize("settings", [
    {"bits": 4, "group_size": 32},
    {"bits": 4, "group_size": 32, "pack": "cpu_int4"},
    {"bits": 8, "group_size": None, "symmetric": True},
])
def test_compressed_tensors_decompress_to_the_jobs_weights(tmp_path, settings):
    tiny = _compressed("rtn", settings)
    expected = {name: layer.weight() for name, layer in grid_layers(tiny.model).items()}
    exported = export_model(tiny.model, tiny.tokenizer, "compressed-tensors",
                            tmp_path / "ct", name="test", measure=PROTOCOL, reference_ppl=None)
    assert exported.details["scheme"] == f"W{settings['bits']}A16"
    back, _ = read_back("compressed-tensors", exported.path)
    for name, weight in expected.items():
        # Stored in float16 (the serving dtype): scales and all, to its rounding.
        torch.testing.assert_close(back.get_submodule(name).weight, weight, rtol=2e-3,
                                   atol=2e-4)
    torch.testing.assert_close(_logits(back), _logits(tiny.model), rtol=0, atol=1e-2)


def test_compressed_tensors_refuses_act_order_groups_with_what_to_do(tmp_path):
    tiny = _compressed("gptq", {"bits": 4, "group_size": 32, "act_order": True})
    with pytest.raises(ExportError, match="static_groups") as caught:
        export_model(tiny.model, tiny.tokenizer, "compressed-tensors", tmp_path / "ct",
                     name="test", measure=PROTOCOL, reference_ppl=None)
    assert isinstance(caught.value.__cause__, CompressedTensorsExportError)
    assert not (tmp_path / "ct").exists()  # nothing half written


def test_the_read_back_perplexity_is_kept_against_the_jobs(tmp_path):
    tiny = _compressed("rtn", {"bits": 4, "group_size": 32})
    job_ppl, _ = perplexity(tiny.model, tiny.tokenizer, PROTOCOL)
    exported = export_model(tiny.model, tiny.tokenizer, "safetensors", tmp_path / "st",
                            name="test", measure=PROTOCOL, reference_ppl=job_ppl)
    check = exported.details["readback"]
    assert check["reference_ppl"] == job_ppl and abs(check["change"]) < 1e-4
    assert check["within_tolerance"] and check["reader"] == "transformers"
    assert (exported.path / "OPTATLAS_EXPORT.json").is_file()


def test_gguf_refuses_an_architecture_it_does_not_write(tmp_path):
    config = SimpleNamespace(model_type="gpt2")
    with pytest.raises(GGUFExportError, match="Llama-family models"):
        write_gguf(config, None, {}, {}, tmp_path / "x.gguf", name="x")


@pytest.mark.parametrize("settings", [{}, {"fuse": False, "activations": "per_tensor"}])
def test_a_w8a8_run_exports_as_int8_compressed_tensors_with_its_activation_rounding(
        tmp_path, settings):
    tiny = _compressed("w8a8", settings)  # the output head converted too, q/k/v fused
    exported = export_model(tiny.model, tiny.tokenizer, "compressed-tensors", tmp_path / "ct",
                            name="test", measure=PROTOCOL, reference_ppl=None)
    activations = settings.get("activations", "per_token")
    assert exported.details["scheme"] == f"W8A8 ({activations})"
    assert exported.details["format"] == "int-quantized"
    back, _ = read_back("compressed-tensors", exported.path)
    # The package quantizes activations its own way (rounding at the edges differs).
    torch.testing.assert_close(_logits(back), _logits(tiny.model), rtol=0, atol=2e-2)


def test_gguf_and_llm_int8_say_why_they_cannot_hold_a_run(tmp_path):
    w8a8 = _compressed("w8a8", {})
    with pytest.raises(ExportError, match="GGUF holds weights only"):
        export_model(w8a8.model, w8a8.tokenizer, "gguf", tmp_path / "g", name="t",
                     measure=PROTOCOL, reference_ppl=None)
    mixed = _compressed("llm-int8", {"threshold": 0.1})
    with pytest.raises(ExportError, match="LLM.int8 layer"):
        export_model(mixed.model, mixed.tokenizer, "compressed-tensors", tmp_path / "c",
                     name="t", measure=PROTOCOL, reference_ppl=None)
