"""The chooser's service: questions by name, the mistakes it answers with a message, the
Launch address that verifies an option, the answer as JSON, and the evidence it reads from
OptAtlas's own runs (the shipped gallery's, seeded for real)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from app.chooser_service import (
    ChooserInputError,
    Question,
    answer,
    answer_json,
    measured_evidence,
    verify_params,
)
from core.chooser.rules import default_rules
from core.gallery.record import read_gallery
from core.jobs.gallery_results import seed_gallery
from core.recipes import build_config
from db.engine import make_engine
from tests.databases import seeded_database_url

RULES = default_rules()


def _option(result, key: str):
    return next(o for o in (*result.shortlist, *result.excluded, result.baseline)
                if o.candidate.key == key)


def _every_option() -> dict:
    """Every candidate as an option: vLLM on a CPU excludes them all, so the answer keeps
    each (a shortlist keeps at most five)."""
    result = answer(Question(model="8B", hardware="laptop-cpu", engine="vllm"))
    assert not result.shortlist
    return {o.candidate.key: o for o in result.excluded}


def test_a_preset_question_is_answered_by_name():
    result = answer(Question(model="8B", hardware="h100-sxm", goal="latency",
                             tolerance="lossless"))
    assert result.query.model.name == "8B (Llama-3.1-8B)"
    assert result.query.hardware.device.key == "h100-sxm"
    assert result.rules_version == RULES.version
    assert result.shortlist and result.shortlist[0].candidate.compute == "fp8"


def test_the_bundled_model_is_read_from_its_config():
    result = answer(Question(model="default", hardware="laptop-cpu", engine="llama.cpp"))
    assert result.query.model.name == "SmolLM2-135M-Instruct (the bundled model)"
    assert 1.3e8 < result.query.model.parameters() < 1.4e8
    assert RULES.band(result.query.model.parameters()) == "small"
    assert result.shortlist


@pytest.mark.parametrize(("asked", "says"), [
    ({"hardware": "h100"}, "no device is called 'h100'; known: laptop-cpu"),
    ({"hardware": "x" * 5000}, "no device is called 'xxxx"),
    ({"model": "m" * 5000}, "the model name is 5,000 characters long"),
    ({"model": "../../etc/passwd"}, "local model folder '../../etc/passwd' does not exist"),
    ({"model": "not a model!"}, "is neither 'default', a local folder nor a Hugging Face id"),
    ({"batch": 0}, "batch must be 1 to 4,096"),
    ({"goal": "fast"}, "goal must be one of fit, latency, throughput, energy, not 'fast'"),
    ({"tolerance": "none"}, "tolerance must be one of lossless, small, some"),
    ({"count": 0}, "device count must be 1 to 64"),
    ({"model": "8B", "prompt": 200_000}, "takes at most 131,072"),
])
def test_a_question_that_cannot_be_answered_says_what_to_change(asked, says):
    with pytest.raises(ChooserInputError) as raised:
        answer(Question(**asked))
    message = str(raised.value)
    assert says in message
    assert len(message) < 700  # a long input is cut, not echoed whole


def test_a_hub_id_that_cannot_be_reached_says_so_and_offers_the_presets(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    with pytest.raises(ChooserInputError) as raised:
        answer(Question(model="nope/does-not-exist"))
    message = str(raised.value)
    assert "the config.json of nope/does-not-exist could not be read" in message
    assert "offline mode (HF_HUB_OFFLINE)" in message
    assert "choose a size preset (0.5B, 1B" in message


def test_verify_opens_launch_with_the_candidates_steps_on_the_bundled_model_for_a_preset():
    options = _every_option()
    assert len(options) == len(RULES.candidates)
    for key in ("rtn-w4a16", "sparse24-w4a16", "fp8-w8a8-kv8"):
        option = options[key]
        params = verify_params(option, "8B")
        assert params["model"] == "default" and "model_ref" not in params
        plan = json.loads(params["plan"])
        assert plan == [{"recipe": s.recipe, "settings": dict(s.settings)}
                        for s in option.candidate.steps]
        for step in plan:  # what Launch builds from it
            build_config(step["recipe"], step["settings"])
    assert json.loads(verify_params(options["rtn-w4a16"], "8B")["plan"]) == \
        [{"recipe": "rtn", "settings": {"bits": 4, "group_size": 128}}]


@pytest.mark.parametrize(("model_ref", "expected"), [
    ("meta-llama/Llama-3.1-8B", {"model": "hub", "model_ref": "meta-llama/Llama-3.1-8B"}),
    ("/models/llama", {"model": "local", "model_ref": "/models/llama"}),
    ("default", {"model": "default"}),
    ("tiny", {"model": "tiny"}),
])
def test_verify_names_the_users_own_model(model_ref, expected):
    option = _every_option()["gptq-w4a16"]
    params = verify_params(option, model_ref)
    assert {k: v for k, v in params.items() if k != "plan"} == expected


def test_a_candidate_optatlas_cannot_run_has_no_verify_link():
    options = _every_option()
    assert verify_params(options["aqlm-2bit"], "70B") is None
    assert verify_params(options["bf16"], "8B") is None  # nothing to run: the model as is


def test_the_answer_as_json_is_plain_data_ranked_from_1():
    question = Question(model="default", hardware="h100-sxm")
    result = answer(question)
    data = json.loads(json.dumps(answer_json(result, question)))
    shortlist = data["shortlist"]
    assert [item["rank"] for item in shortlist] == list(range(1, len(shortlist) + 1))
    assert 3 <= len(shortlist) <= 5
    assert [item["key"] for item in shortlist] == [o.candidate.key for o in result.shortlist]
    assert data["rules_version"] == RULES.version and data["model"]["ref"] == "default"
    assert data["baseline"]["key"] == "bf16" and data["baseline"]["rank"] is None
    first = shortlist[0]
    assert first["speed"]["estimate"] is True and first["memory"]["fits"] is True
    assert first["risk"]["level"] in ("negligible", "small")
    assert {item["key"] for item in data["excluded"]} == {o.candidate.key
                                                          for o in result.excluded}
    assert all(item["reasons"] for item in data["excluded"])


# --- Evidence from OptAtlas's own runs ---


@pytest.fixture(scope="module")
def gallery_frame(tmp_path_factory, full_taxonomy) -> pd.DataFrame:
    """Results as the app reads them from a database holding the shipped gallery."""
    from app.results_service import results_frame

    folder = tmp_path_factory.mktemp("chooser-gallery")
    with seeded_database_url(folder, full_taxonomy, "chooser") as url, \
            pytest.MonkeyPatch.context() as patch:
        engine = make_engine(url)
        seed_gallery(engine, read_gallery())
        engine.dispose()
        patch.setenv("OPTATLAS_DB_URL", url)
        yield results_frame()


def _run(frame: pd.DataFrame, result_id: int) -> pd.Series:
    return frame[frame["result_id"] == result_id].iloc[0]


def test_the_gallerys_rtn_run_is_evidence_for_the_rtn_candidate_at_its_bits_and_groups(
        gallery_frame):
    found = measured_evidence(RULES, gallery_frame)
    candidate = RULES.candidate("int8-weight-only")
    want = build_config("rtn", dict(candidate.steps[0].settings))
    evidence = found["int8-weight-only"]
    assert len(evidence) == 1
    item = evidence[0]
    run = _run(gallery_frame, item.result_id)
    assert run["gallery_run"].startswith("rtn-8bit-")
    step = run["steps"][0]["settings"]
    assert (step["bits"], step["group_size"]) == (want.bits, want.group_size)
    baseline = gallery_frame[(gallery_frame["kind"] == "baseline")].iloc[0]
    assert (item.kind, item.metric, item.value, item.baseline) == (
        "gallery", "token perplexity", run["ppl"], baseline["ppl"])
    assert item.parameters == 1.35e8 and item.source.startswith("gallery: measured on")
    # The gallery rounds in groups of 64 or per channel: no run is 4 bits in groups of 128
    # (RTN, GPTQ) or of 32 (the GGUF stand-in), so those candidates have no measurement.
    for key in ("rtn-w4a16", "gptq-w4a16", "gguf-q4-k-m", "aqlm-2bit"):
        assert key not in found


def test_a_candidate_at_default_settings_takes_only_runs_at_those_settings(gallery_frame):
    # SmoothQuant at its defaults: the gallery's sweep of alpha with per-tensor activations
    # measures other settings, and must not stand for it.
    default = build_config("smoothquant", {}).model_dump()
    evidence = measured_evidence(RULES, gallery_frame)["int8-w8a8"]
    assert evidence
    for item in evidence:
        run = _run(gallery_frame, item.result_id)
        settings = build_config("smoothquant", run["steps"][0].get("settings") or {})
        assert settings.model_dump() == default, run["gallery_run"]


def test_gallery_evidence_decides_the_risk_for_the_bundled_model(gallery_frame):
    evidence = measured_evidence(RULES, gallery_frame)
    result = answer(Question(model="default", hardware="laptop-cpu", engine="llama.cpp",
                             tolerance="some"), evidence)
    judged = _option(result, "int8-weight-only").risk
    assert judged.basis == "gallery"
    assert judged.level == RULES.risk_of(judged.deciding.relative_increase)


def _hand_frame() -> pd.DataFrame:
    """Rows shaped like results_frame's: a baseline measured here and three runs."""
    common = {"source": "here", "model": "Llama-3.1-8B", "model_key": "m", "device": "cuda",
              "dtype": "bfloat16", "protocol_hash": "p", "measured_how": "measured here on X",
              "protocol": {"corpus": "wikitext-2", "split": "test", "windows": 16,
                           "seq_len": 512}}
    rows = [
        {"result_id": 1, "kind": "baseline", "recipe": "baseline", "steps": [], "ppl": 6.0},
        {"result_id": 2, "kind": "compressed", "recipe": "rtn", "ppl": 6.3,
         "steps": [{"recipe": "rtn", "settings": {"bits": 4, "group_size": 128}}]},
        {"result_id": 3, "kind": "compressed", "recipe": "rtn", "ppl": 6.6,
         "steps": [{"recipe": "rtn", "settings": {"bits": 4, "group_size": 64}}]},
        {"result_id": 4, "kind": "compressed", "recipe": "rtn", "ppl": float("nan"),
         "steps": [{"recipe": "rtn", "settings": {"bits": 4, "group_size": 128}}]},
    ]
    return pd.DataFrame([{**common, **row} for row in rows])


def test_a_run_measured_here_counts_only_at_the_candidates_groups():
    found = measured_evidence(RULES, _hand_frame())
    assert list(found) == ["rtn-w4a16"]
    (item,) = found["rtn-w4a16"]
    assert (item.kind, item.result_id, item.baseline, item.value) == ("measured", 2, 6.0, 6.3)
    assert item.parameters == 8e9
    assert item.protocol.startswith("wikitext-2 (test), 16 windows of 512 tokens")
    assert measured_evidence(RULES, _hand_frame().iloc[0:0]) == {}
    assert measured_evidence(RULES, None) == {}
