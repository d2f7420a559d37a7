"""Evidence and the risk judged from it: the sizes model names state, which evidence decides
(the closest in size within the rules' factor; OptAtlas's own run before a report), the
rule-based prior otherwise, and which reported results count for a candidate."""

from __future__ import annotations

import pytest

from core.chooser.evidence import Evidence, judge_risk, parameters_in, reported_evidence
from core.chooser.rules import default_rules
from taxonomy.schema import ReportedResult

RULES = default_rules()
RTN_4BIT = RULES.candidate("rtn-w4a16")
AQLM = RULES.candidate("aqlm-2bit")
EIGHT_B = 8.03e9


@pytest.mark.parametrize(("name", "parameters"), [
    ("Llama-2-70B", 7e10),
    ("OPT-175B", 1.75e11),
    ("SmolLM2-135M-Instruct", 1.35e8),
    ("Qwen2.5-0.5B", 5e8),
    ("LLaMA 7B-65B", None),  # a range states no one size
    ("GPT-4", None),
    ("", None),
])
def test_the_size_a_models_name_states(name, parameters):
    assert parameters_in(name) == parameters


def _evidence(kind: str, model: str, baseline: float, value: float, **extra) -> Evidence:
    return Evidence(kind=kind, model=model, parameters=parameters_in(model), setting="4-bit",
                    metric="WikiText-2 perplexity", baseline=baseline, value=value,
                    protocol="seq 2048", source="a test", **extra)


def test_a_report_on_a_model_of_about_the_same_size_decides_the_risk():
    # +2 % on a 13B model, within 4x of 8B: "small", though the prior for 8B says "moderate".
    report = _evidence("reported", "Llama-2-13B", 5.00, 5.10, node="rtn")
    assert RTN_4BIT.risk[RULES.band(EIGHT_B)] == "moderate"
    judged = judge_risk(RTN_4BIT, RULES, EIGHT_B, [report])
    assert judged.basis == "reported"
    assert judged.level == RULES.risk_of(0.02) == "small"
    assert judged.deciding == report
    assert judged.reason.startswith("WikiText-2 perplexity +2.0% on Llama-2-13B")


def test_a_report_far_in_size_leaves_the_prior_and_is_still_listed():
    far = _evidence("reported", "Llama-2-70B", 3.32, 3.33, node="rtn")  # 8.7 times 8B
    judged = judge_risk(RTN_4BIT, RULES, EIGHT_B, [far])
    assert judged.basis == "rule-based prior"
    assert judged.level == RTN_4BIT.risk["medium"]
    assert judged.deciding is None and judged.evidence == (far,)
    assert "prior for medium models" in judged.reason
    assert RULES.sources[RTN_4BIT.risk_source].title in judged.reason


def test_evidence_without_a_baseline_never_decides():
    unbased = _evidence("reported", "Llama-2-7B", None, 6.0)
    assert judge_risk(RTN_4BIT, RULES, EIGHT_B, [unbased]).basis == "rule-based prior"


@pytest.mark.parametrize("order", [1, -1])
def test_at_equal_distance_a_measured_run_beats_a_report(order):
    # 16B and 4B are both twice as far from 8B; the run here says +0.5 %, the report +10 %.
    measured = _evidence("measured", "Model-16B", 10.0, 10.05, result_id=7)
    reported = _evidence("reported", "Model-4B", 10.0, 11.0, node="rtn")
    judged = judge_risk(RTN_4BIT, RULES, 8e9, [measured, reported][::order])
    assert judged.deciding is measured
    assert (judged.basis, judged.level) == ("measured", "negligible")


def test_the_closest_in_size_decides_whatever_its_kind():
    close = _evidence("reported", "Model-9B", 10.0, 10.3, node="rtn")
    farther = _evidence("measured", "Model-20B", 10.0, 10.0, result_id=1)
    judged = judge_risk(RTN_4BIT, RULES, 8e9, [farther, close])
    assert judged.deciding is close and judged.level == "small"


def _reported(setting: str, *, metric="WikiText-2 perplexity", baseline=5.12, value=6.93,
              lower_is_better=True, model="Llama-2-7B") -> ReportedResult:
    return ReportedResult(model=model, metric=metric, baseline=baseline, value=value,
                          lower_is_better=lower_is_better, setting=setting,
                          protocol="WikiText-2, seq 4096", source="egiazarian2024")


def test_reported_evidence_matches_a_setting_in_other_words():
    found = reported_evidence(AQLM, "aqlm", [_reported("about 2 bits per weight"),
                                             _reported("2-bit weights, 1x16 codebook")])
    assert [item.setting for item in found] == ["about 2 bits per weight",
                                                 "2-bit weights, 1x16 codebook"]
    first = found[0]
    assert (first.kind, first.node, first.parameters) == ("reported", "aqlm", 7e9)
    assert first.relative_increase == pytest.approx(6.93 / 5.12 - 1)
    assert first.source == "reported by egiazarian2024"


def test_reported_evidence_skips_what_is_not_a_comparable_perplexity():
    skipped = [
        _reported("2-bit", baseline=None),  # no baseline to compare with
        _reported("2-bit", metric="zero-shot accuracy", lower_is_better=False),
        _reported("2-bit", metric="decode latency (ms)"),  # lower is better, not perplexity
        _reported("3-bit"),  # another setting
    ]
    assert reported_evidence(AQLM, "aqlm", skipped) == []


@pytest.mark.parametrize("setting", ["about 3.2 bits per weight", "12-bit activations"])
def test_a_2_bit_candidate_does_not_take_a_setting_that_only_ends_in_2_bits(setting):
    assert reported_evidence(AQLM, "aqlm", [_reported(setting)]) == []


def test_a_candidate_without_a_reported_setting_takes_no_reports():
    assert not RULES.candidate("bf16").reported_setting
    assert reported_evidence(RULES.candidate("bf16"), "rtn", [_reported("16-bit")]) == []
