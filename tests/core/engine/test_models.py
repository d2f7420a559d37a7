"""Model sources: ids and paths are validated, and a missing model says what was tried."""

from __future__ import annotations

import re

import pytest

from core.engine.model_refs import ModelNotFoundError, parse_model_ref
from core.engine.models import load_model


def test_references_parse_into_their_kinds(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    assert parse_model_ref("default").kind == "default"
    assert parse_model_ref("tiny").kind == "tiny"
    hub = parse_model_ref("HuggingFaceTB/SmolLM2-135M@main")
    assert (hub.kind, hub.name, hub.revision) == ("hub", "HuggingFaceTB/SmolLM2-135M", "main")
    local = parse_model_ref(str(tmp_path))
    assert (local.kind, local.name) == ("local", str(tmp_path))


@pytest.mark.parametrize(
    ("ref", "says"),
    [
        ("not a model!", "neither 'default', a local folder nor a Hugging Face id"),
        ("org/name/extra", "neither 'default', a local folder nor a Hugging Face id"),
        ("a/..", "neither 'default', a local folder nor a Hugging Face id"),
        ("x@bad rev", "revision 'bad rev' of 'x' is not a valid git revision"),
    ],
)
def test_malformed_references_are_rejected_with_guidance(ref, says):
    with pytest.raises(ModelNotFoundError, match=re.escape(says)):
        parse_model_ref(ref)


def test_a_folder_named_like_a_hub_id_is_a_local_model(tmp_path, monkeypatch):
    (tmp_path / "mymodel").mkdir()
    (tmp_path / "mymodel" / "config.json").write_text("{}")
    monkeypatch.chdir(tmp_path)
    spec = parse_model_ref("mymodel")
    assert spec.kind == "local" and spec.name == str(tmp_path / "mymodel")


def test_tiny_seeds_must_be_integers():
    with pytest.raises(ModelNotFoundError, match="'tiny' or 'tiny:SEED'"):
        parse_model_ref("tiny:abc")


def test_a_missing_folder_is_named(tmp_path):
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        parse_model_ref(str(tmp_path / "nowhere"))


def test_a_relative_folder_without_config_is_not_a_model(tmp_path, monkeypatch):
    # Relative paths resolve against the working directory wherever the checkout lives.
    (tmp_path / "a" / "b").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "a" / "b")
    with pytest.raises(ModelNotFoundError, match="is not a model folder: it has no config.json"):
        parse_model_ref("../..")


def test_a_folder_without_config_is_not_a_model(tmp_path):
    with pytest.raises(ModelNotFoundError, match="no config.json"):
        parse_model_ref(str(tmp_path))


def test_an_unknown_hub_model_names_every_place_tried(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelNotFoundError) as error:
        load_model("optatlas-tests/no-such-model")
    message = str(error.value)
    assert "optatlas-tests/no-such-model" in message
    assert "local Hugging Face cache" in message and "Hugging Face Hub" in message


def test_a_saved_model_loads_back_from_its_folder(tmp_path):
    tiny = load_model("tiny")
    tiny.model.save_pretrained(tmp_path)
    tiny.tokenizer.save_pretrained(tmp_path)
    loaded = load_model(str(tmp_path))
    assert loaded.spec.kind == "local" and loaded.checkpoint_dir == tmp_path
    assert loaded.model.config.num_hidden_layers == 2


def test_unknown_dtype_and_missing_gpu_are_clear_errors():
    with pytest.raises(ValueError, match="dtype 'float8' is not one of"):
        load_model("tiny", dtype="float8")
    import torch

    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA GPU"):
            load_model("tiny", device="cuda")


def test_tiny_models_are_reproducible():
    a, b = load_model("tiny").model, load_model("tiny").model
    c = load_model("tiny:1").model
    first = lambda m: next(m.parameters())  # noqa: E731
    assert (first(a) == first(b)).all()
    assert not (first(a) == first(c)).all()
