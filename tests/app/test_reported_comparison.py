"""Reported numbers sit side by side only when they measure the same thing: same model, metric,
dataset, window, perplexity level and baseline. Everything else stands alone with the fields
that differ from its nearest counterpart."""

from __future__ import annotations

from dataclasses import replace

import pytest

from app.reported_comparison import KEY_FIELDS, compare_reported, differences
from taxonomy.catalog import ReferenceView, ReportedResultView, TechniqueView, load_catalog
from taxonomy.seed import seed

SOURCE = ReferenceView(key="paper2023", title="A paper", authors=("A. Author",), et_al=False,
                       year=2023, venue="Venue", arxiv=None, doi=None, url="https://example.org")
TOKEN_PPL = ReportedResultView(
    model="Llama-2-7B", metric="WikiText-2 perplexity", baseline=5.47, value=5.6, unit="",
    lower_is_better=True, setting="4-bit g128", protocol="WikiText-2 test", note="",
    source=SOURCE, dataset="WikiText-2 test", context_tokens=2048, perplexity_level="token")


def _node(slug: str, *results: ReportedResultView) -> TechniqueView:
    return TechniqueView(
        slug=slug, name=slug.upper(), parent="fam", family="fam", kind="method", summary="s",
        mechanism=None, saves=None, costs=None, practical=None, challenges=(),
        runnable_recipe=None, not_runnable_reason=None, needs_calibration=None,
        needs_training=None, goals=(), hardware=(), references=(), implementations=(),
        reported_results=tuple(results))


def test_equal_keys_from_two_nodes_are_grouped():
    gptq = replace(TOKEN_PPL, value=5.63, setting="GPTQ")
    awq = replace(TOKEN_PPL, value=5.60, setting="AWQ")
    groups, alone = compare_reported([_node("gptq", gptq), _node("awq", awq)])
    assert alone == []
    (group,) = groups
    assert group.key == TOKEN_PPL.comparison_key
    assert group.by_node == {"gptq": (gptq,), "awq": (awq,)}
    assert group.example is gptq


def test_a_group_keeps_every_setting_a_node_reports():
    int4, int3 = replace(TOKEN_PPL, setting="INT4"), replace(TOKEN_PPL, setting="INT3", value=6.2)
    groups, _ = compare_reported([_node("gptq", int4, int3), _node("awq", TOKEN_PPL)])
    (group,) = groups
    assert group.by_node["gptq"] == (int4, int3)


def test_three_nodes_sharing_a_key_form_one_group():
    nodes = [_node(slug, replace(TOKEN_PPL, setting=slug)) for slug in ("rtn", "gptq", "awq")]
    groups, alone = compare_reported(nodes)
    assert [list(g.by_node) for g in groups] == [["rtn", "gptq", "awq"]]
    assert alone == []


def test_case_and_spacing_do_not_keep_numbers_apart():
    respelt = replace(TOKEN_PPL, model="llama-2-7b", dataset="WikiText-2  Test",
                      metric="wikitext-2 PERPLEXITY")
    groups, alone = compare_reported([_node("gptq", TOKEN_PPL), _node("awq", respelt)])
    assert len(groups) == 1 and alone == []


def test_one_nodes_results_are_never_a_group_by_themselves():
    groups, alone = compare_reported([_node("gptq", TOKEN_PPL, replace(TOKEN_PPL, value=6.0)),
                                      _node("awq")])
    assert groups == []
    assert [item.node for item in alone] == ["gptq", "gptq"]
    assert {item.reason for item in alone} == {"the other techniques report no numbers"}


def test_token_and_word_perplexity_of_the_same_model_are_not_grouped():
    word = replace(TOKEN_PPL, perplexity_level="word", value=9.1, baseline=8.8)
    groups, alone = compare_reported([_node("gptq", TOKEN_PPL), _node("awq", word)])
    assert groups == []
    assert [(item.node, item.result) for item in alone] == [("gptq", TOKEN_PPL), ("awq", word)]
    assert alone[0].reason == "nearest counterpart differs in perplexity level: token vs word"
    assert alone[1].reason == "nearest counterpart differs in perplexity level: word vs token"


@pytest.mark.parametrize(("change", "difference"), [
    ({"model": "OPT-175B"}, "model: Llama-2-7B vs OPT-175B"),
    ({"metric": "C4 perplexity"}, "metric: WikiText-2 perplexity vs C4 perplexity"),
    ({"dataset": "PTB test"}, "dataset: WikiText-2 test vs PTB test"),
    ({"dataset": None}, "dataset: WikiText-2 test vs unstated dataset"),
    ({"context_tokens": 4096}, "window: 2048 tokens vs 4096 tokens"),
    ({"context_tokens": None}, "window: 2048 tokens vs unstated window"),
    ({"perplexity_level": "byte"}, "perplexity level: token vs byte"),
    ({"baseline_is": "the FP16 model in Hugging Face"},
     "baseline: the unmodified model vs the FP16 model in Hugging Face"),
], ids=["model", "metric", "dataset", "no-dataset", "window", "no-window", "level", "baseline"])
def test_any_one_differing_field_keeps_numbers_apart_and_is_named(change, difference):
    other = replace(TOKEN_PPL, **change)
    assert differences(TOKEN_PPL, other) == [difference]
    groups, alone = compare_reported([_node("a", TOKEN_PPL), _node("b", other)])
    assert groups == []
    assert alone[0].reason == f"nearest counterpart differs in {difference}"


def test_differences_lists_every_field_in_key_order():
    accuracy = replace(TOKEN_PPL, model="OPT-175B", metric="zero-shot accuracy",
                       dataset="lm-eval suite", context_tokens=None, perplexity_level=None,
                       baseline_is="the FP16 model")
    found = differences(TOKEN_PPL, accuracy)
    assert [d.split(":")[0] for d in found] == list(KEY_FIELDS)
    assert "perplexity level: token vs not a perplexity" in found


def test_equal_results_have_no_differences():
    assert differences(TOKEN_PPL, replace(TOKEN_PPL, value=99.0, setting="other")) == []


def test_the_reason_names_the_nearest_counterpart():
    # 'a' differs from b's first result in model and window, from its second in the window
    # only: the reason names the nearer one.
    far = replace(TOKEN_PPL, model="OPT-175B", context_tokens=4096)
    near = replace(TOKEN_PPL, context_tokens=4096)
    groups, alone = compare_reported([_node("a", TOKEN_PPL), _node("b", far, near)])
    assert groups == []
    reason = next(item.reason for item in alone if item.node == "a")
    assert reason == "nearest counterpart differs in window: 2048 tokens vs 4096 tokens"


def test_grouped_and_lone_results_are_reported_together():
    shared = replace(TOKEN_PPL, setting="shared")
    lone = replace(TOKEN_PPL, model="OPT-6.7B")
    groups, alone = compare_reported([_node("a", shared, lone), _node("b", shared)])
    assert [g.key for g in groups] == [TOKEN_PPL.comparison_key]
    assert [(item.node, item.result.model) for item in alone] == [("a", "OPT-6.7B")]
    assert alone[0].reason == "nearest counterpart differs in model: OPT-6.7B vs Llama-2-7B"


def test_no_nodes_and_no_results_give_nothing():
    assert compare_reported([]) == ([], [])
    assert compare_reported([_node("a"), _node("b")]) == ([], [])


def test_gptq_and_awq_line_up_on_llama_2_7b(full_taxonomy, engine):
    seed(engine, full_taxonomy)
    catalog = load_catalog(engine)
    groups, alone = compare_reported([catalog.get("gptq"), catalog.get("awq")])
    llama = [g for g in groups if g.example.model == "Llama-2-7B"]
    assert llama, [g.key for g in groups]
    for group in llama:
        assert set(group.by_node) == {"gptq", "awq"}
        assert {r.perplexity_level for rs in group.by_node.values() for r in rs} == {"token"}
    # Nothing grouped stands alone as well.
    grouped = {g.key for g in groups}
    assert all(item.result.comparison_key not in grouped for item in alone)
