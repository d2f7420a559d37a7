"""The launch check: what would fail at run time and can be known from a config.json is
refused before the job is queued; what cannot be checked from here is said."""

from __future__ import annotations

import json

import pytest

from core.engine.model_configs import forget_hub_answers
from core.jobs.preflight import WorkerSeat, check_job
from core.jobs.spec import validate_spec

HERE = "this-host"
CPU_HERE = [WorkerSeat("cpu", HERE)]


@pytest.fixture(autouse=True)
def no_hub(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens: unreachable
    forget_hub_answers()


def _check(workers=CPU_HERE, **job):
    return check_job(validate_spec(job), workers=workers, host=HERE)


def test_a_group_size_that_does_not_divide_the_input_dimension_is_refused():
    found = _check(model="default", steps=[{"recipe": "gptq", "settings": {"group_size": 100}}])
    assert not found.ok
    assert "group_size 100 does not divide" in found.summary() and "576" in found.summary()
    assert "64" in found.summary()  # a size that fits is suggested
    assert _check(model="default",
                  steps=[{"recipe": "gptq", "settings": {"group_size": 64}}]).ok


def test_later_steps_are_checked_against_the_shape_earlier_steps_leave():
    # 1536 MLP channels less a quarter leaves 1152, which 256 does not divide.
    found = _check(model="default", steps=[
        {"recipe": "mlp-channel-pruning", "settings": {"fraction": 0.25}},
        {"recipe": "rtn", "settings": {"group_size": 256, "skip": ["lm_head", "q_proj", "k_proj",
                                                                    "v_proj", "o_proj", "gate",
                                                                    "up_proj"]}}])
    assert "1152 (down_proj)" in found.summary()


def test_an_unknown_hub_model_is_refused_when_only_this_machine_could_run_it():
    found = _check(model="nope/does-not-exist")
    assert not found.ok and "not in the local Hugging Face cache" in found.summary()
    # A worker on another machine may reach the Hub: then it is only "not checked".
    elsewhere = _check(model="nope/does-not-exist", workers=[WorkerSeat("cpu", "gpu-box")])
    assert elsewhere.ok and "was not checked" in elsewhere.unchecked[0]


def test_a_device_no_worker_serves_is_refused_with_what_is_served():
    found = _check(model="tiny", device="cuda:7")
    assert not found.ok and "no running worker serves 'cuda:7'" in found.summary()
    assert "devices served now: cpu" in found.summary()
    assert _check(model="tiny", device="cuda:7", workers=[WorkerSeat("cuda:7", "g")]).ok
    idle = _check(model="tiny", device="cpu", workers=[])
    assert idle.ok and "no worker is running" in idle.unchecked[0]


def test_on_a_ray_cluster_a_gpu_type_and_any_gpu_are_served_by_its_gpu_nodes():
    cluster = [WorkerSeat("cpu", "10.0.0.2"), WorkerSeat("cuda@H100", "10.0.0.3")]
    assert _check(model="tiny", device="cuda@H100", workers=cluster).ok
    assert _check(model="tiny", device="cuda", workers=cluster).ok  # any GPU will do
    found = _check(model="tiny", device="cuda@L4", workers=cluster)
    assert not found.ok and "devices served now: cpu, cuda@H100" in found.summary()


def test_a_draft_with_another_vocabulary_is_refused(tmp_path):
    draft = tmp_path / "draft"
    draft.mkdir()
    (draft / "config.json").write_text(json.dumps({"model_type": "llama", "vocab_size": 32000}))
    found = _check(model="default", steps=[{"recipe": "speculative-decoding",
                                            "settings": {"draft_model": str(draft)}}])
    assert "vocabulary of 32000 tokens, the target 49152" in found.summary()


def test_a_layer_drop_that_removes_nothing_is_refused():
    found = _check(model="tiny", steps=[{"recipe": "layer-drop"}])
    assert "removing 0.25 of 2 layers rounds to none" in found.summary()
    assert not found.unchecked


def test_an_architecture_without_known_shapes_is_said_to_be_unchecked(tmp_path):
    (tmp_path / "gpt").mkdir()
    (tmp_path / "gpt" / "config.json").write_text(json.dumps({"model_type": "gpt2"}))
    found = _check(model=str(tmp_path / "gpt"), steps=[{"recipe": "rtn"}])
    assert found.ok and "'gpt2' model are not known" in found.unchecked[0]
