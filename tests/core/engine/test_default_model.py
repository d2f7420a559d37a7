"""Integration: the bundled SmolLM2-135M-Instruct, converted from GGUF once, then measured."""

from __future__ import annotations

import json
import math

import pytest

from core.engine.measure import measure_model
from core.engine.measure_config import MeasureConfig
from core.engine.model_configs import BUNDLED_CHECKPOINT
from core.engine.models import load_model

pytestmark = pytest.mark.integration


@pytest.fixture
def default_home(bundled_home):
    """The suite's one data directory for the bundled model (tests/conftest.py)."""
    return bundled_home


@pytest.fixture
def default_model(default_home, monkeypatch):
    monkeypatch.setenv("OPTATLAS_HOME", str(default_home))
    return load_model("default")


def test_the_gguf_becomes_a_plain_float_checkpoint(default_model, default_home, tmp_path):
    checkpoint = default_home / "models" / BUNDLED_CHECKPOINT
    assert (checkpoint / "model.safetensors").is_file()
    source = json.loads((checkpoint / "OPTATLAS_SOURCE.json").read_text())
    assert source["file"].endswith(".gguf")
    model = default_model.model
    assert model.config.hidden_size == 576 and model.config.num_hidden_layers == 30
    assert not getattr(model, "is_quantized", False)
    model.save_pretrained(tmp_path / "saved")  # a GGUF-loaded model would refuse this
    assert (tmp_path / "saved" / "model.safetensors").is_file()


def test_the_second_load_reuses_the_checkpoint(default_model, default_home, monkeypatch):
    monkeypatch.setenv("OPTATLAS_HOME", str(default_home))
    again = load_model("default")
    assert again.load_s < 10
    assert again.checkpoint_dir == default_model.checkpoint_dir


def test_the_bundled_model_predicts_python_documentation_well(default_model):
    config = MeasureConfig(seq_len=256, eval_windows=2, measure_speed=False)
    result = measure_model(default_model, config)
    assert math.isfinite(result.metrics["ppl"]) and 2 < result.metrics["ppl"] < 60
    assert result.metrics["stored_bytes"] == pytest.approx(134_515_008 * 4, rel=0.01)
