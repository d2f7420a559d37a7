"""What a user may type as a model: over-long or hostile text gets a message, never a
traceback, and messages about local folders do not show the server's file system."""

from __future__ import annotations

import re

import pytest

from core.engine.model_refs import MAX_MODEL_REF_CHARS, ModelNotFoundError, parse_model_ref


@pytest.mark.parametrize("ref", ["a" * 5000, "/" + "a" * 5000, "org/" + "b" * 5000,
                                 "./" + "x/" * 3000])
def test_an_over_long_reference_is_refused_with_its_limit(ref):
    with pytest.raises(ModelNotFoundError) as caught:
        parse_model_ref(ref)
    message = str(caught.value)
    assert f"at most {MAX_MODEL_REF_CHARS} characters" in message
    assert len(message) < 300  # the 5,000 characters are not echoed back


@pytest.mark.parametrize("ref", ["/tmp/a\x00b", "org/na\nme", "tiny\x1b[31m", "~nosuchuser/x"])
def test_control_characters_and_path_tricks_get_a_message(ref):
    with pytest.raises(ModelNotFoundError):
        parse_model_ref(ref)


def test_a_missing_folder_is_named_as_typed_not_resolved(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ModelNotFoundError) as caught:
        parse_model_ref("./nowhere")
    assert "'./nowhere'" in str(caught.value)
    assert str(tmp_path) not in str(caught.value)


def test_model_roots_confine_local_folders(tmp_path, monkeypatch):
    root, outside = tmp_path / "models", tmp_path / "private"
    for folder in (root / "mine", outside / "secret"):
        folder.mkdir(parents=True)
        (folder / "config.json").write_text("{}")
    (root / "escape").symlink_to(outside / "secret")
    monkeypatch.setenv("OPTATLAS_MODEL_ROOTS", str(root))
    assert parse_model_ref(str(root / "mine")).kind == "local"
    messages = []
    for ref in (str(outside / "secret"), str(outside / "missing"), str(root / "escape"),
                str(root / "mine" / ".." / ".." / "private" / "secret")):
        with pytest.raises(ModelNotFoundError) as caught:
            parse_model_ref(ref)
        # The folder as typed is quoted (shortened); nothing else names a path.
        message = re.sub(r"'[^']*'( \([\d,]+ characters\))?", "REF", str(caught.value))
        messages.append(message)
        assert "/" not in message
    # An existing and a missing folder outside the roots are refused in the same words, so
    # the message does not tell whether a server path exists.
    assert len(set(messages)) == 1 and "OPTATLAS_MODEL_ROOTS" in messages[0]


def test_under_model_roots_a_hub_like_name_is_not_looked_up_on_disk(tmp_path, monkeypatch):
    (tmp_path / "org" / "name").mkdir(parents=True)
    (tmp_path / "org" / "name" / "config.json").write_text("{}")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OPTATLAS_MODEL_ROOTS", str(tmp_path / "models"))
    assert parse_model_ref("org/name").kind == "hub"


def test_a_local_folder_whose_full_path_is_too_long_to_store_is_refused(tmp_path, monkeypatch):
    # Typed short, resolved long: its key (the whole path) would not fit results.model_key,
    # which PostgreSQL enforces only once the job has run.
    deep = tmp_path
    while len(str(deep)) <= MAX_MODEL_REF_CHARS:
        deep = deep / ("d" * 60)
    (deep / "m").mkdir(parents=True)
    (deep / "m" / "config.json").write_text("{}")
    monkeypatch.chdir(deep)
    with pytest.raises(ModelNotFoundError, match=f"longer than {MAX_MODEL_REF_CHARS} char"):
        parse_model_ref("./m")
    with pytest.raises(ModelNotFoundError, match=f"at most {MAX_MODEL_REF_CHARS} char"):
        parse_model_ref(" " * MAX_MODEL_REF_CHARS + "tiny")  # a job stores it as typed
