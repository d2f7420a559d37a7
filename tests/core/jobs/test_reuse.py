"""The reuse key: the same run gets the same key however its settings are written; a change
of any setting, of the protocol, device, dtype or a library's version gives another; models
whose weights their name does not pin down get none."""

from __future__ import annotations

import pytest

from core.jobs.reuse import library_versions, reuse_key
from core.jobs.spec import validate_spec

VERSIONS = {"optatlas": "0.1.0", "torch": "2.13.0", "transformers": "5.24.0"}


def _spec(**fields):
    base = {"model": "default", "steps": [{"recipe": "gptq", "settings": {"bits": 4}}],
            "device": "cpu", "measure": {"eval_windows": 4}}
    return validate_spec({**base, **fields})


def _key(spec, device="cpu", versions=VERSIONS):
    return reuse_key(spec, device, versions)


def test_the_same_run_written_two_ways_has_one_key():
    typed_out = _spec(steps=[{"recipe": "gptq", "settings": {"bits": 4, "group_size": 64,
                                                              "damping": 0.01}}])
    assert _key(_spec()) == _key(typed_out) and len(_key(_spec())) == 64


@pytest.mark.parametrize("change", [
    {"steps": [{"recipe": "gptq", "settings": {"bits": 3}}]},
    {"steps": [{"recipe": "gptq", "settings": {"bits": 4, "act_order": False}}]},
    {"steps": [{"recipe": "rtn", "settings": {"bits": 4}}]},
    {"measure": {"eval_windows": 8}},
    {"measure": {"eval_windows": 4, "speed": "none"}},
    {"dtype": "bfloat16"},
    {"model": "tiny"},
    {"save_model": True},
])
def test_any_change_to_what_runs_or_how_it_is_measured_gives_another_key(change):
    assert _key(_spec(**change)) != _key(_spec())


def test_another_device_or_library_version_gives_another_key():
    assert _key(_spec(), device="NVIDIA H100") != _key(_spec())
    assert _key(_spec(), versions={**VERSIONS, "torch": "2.14.0"}) != _key(_spec())


def test_only_models_pinned_by_their_name_get_a_key(tmp_path):
    assert _key(_spec(model="HuggingFaceTB/SmolLM2-135M@a1b2c3d")) is not None
    assert _key(_spec(model="HuggingFaceTB/SmolLM2-135M")) is None  # may change upstream
    (tmp_path / "config.json").write_text("{}")
    assert _key(_spec(model=str(tmp_path))) is None  # a folder may be overwritten


def test_library_versions_come_from_the_installed_packages():
    versions = library_versions()
    assert versions["torch"].startswith("2.") and versions["optatlas"] != "-"
