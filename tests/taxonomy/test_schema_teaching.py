"""The teaching layer of the taxonomy: a takeaway and a level on every node, several recipes per
node, and reported results that say what they are comparable with. The schema refuses malformed
content, the loader refuses gaps (naming file and node) unless asked to list them, the checker
script lists them, and seeding carries every new field through to the catalog."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError
from sqlalchemy import select, update

from db import models
from db.engine import session_factory
from taxonomy.catalog import RecipeLinkView, load_catalog
from taxonomy.loader import (
    DATA_DIR,
    TaxonomyError,
    content_gaps,
    load_file,
    load_paths,
    load_taxonomy,
)
from taxonomy.schema import NODE_REQUIRED_FIELDS, Node, RecipeLink, ReportedResult, Runnable
from taxonomy.seed import seed

ROOT = Path(__file__).resolve().parents[2]
CHECKER = ROOT / "scripts" / "check_taxonomy.py"
TAKEAWAY = "In one sentence, what this does, what it buys and what it costs."


def _edit(path, old: str, new: str, count: int = 1) -> None:
    text = path.read_text()
    assert old in text, f"fixture no longer contains {old!r}"
    path.write_text(text.replace(old, new, count))


def _paths(data_dir: Path) -> list[Path]:
    return sorted(data_dir.glob("*.yaml"))


# --- schema: Node.takeaway and Node.level ---------------------------------------------------

def _node(**fields) -> Node:
    base = dict(slug="a-node", name="A node", kind="family",
                summary="A summary long enough to pass the forty character minimum.")
    return Node(**{**base, **fields})


@pytest.mark.parametrize("length", [40, 320])
def test_a_takeaway_of_40_to_320_characters_is_accepted(length):
    node = _node(takeaway="x" * length, level="introductory")
    assert len(node.takeaway) == length and node.level == "introductory"


@pytest.mark.parametrize(("takeaway", "message"), [
    ("x" * 39, "at least 40 characters"),
    ("x" * 321, "at most 320 characters"),
    (" " * 60, "at least 40 characters"),  # whitespace is stripped first
])
def test_a_takeaway_too_short_or_too_long_is_refused(takeaway, message):
    with pytest.raises(ValidationError, match=message):
        _node(takeaway=takeaway)


@pytest.mark.parametrize("level", ["introductory", "advanced"])
def test_the_two_levels_are_accepted(level):
    assert _node(level=level).level == level


@pytest.mark.parametrize("level", ["expert", "Introductory", "beginner", ""])
def test_any_other_level_is_refused(level):
    with pytest.raises(ValidationError, match="level"):
        _node(level=level)


def test_every_node_must_carry_a_takeaway_and_a_level():
    assert NODE_REQUIRED_FIELDS == ("takeaway", "level")


# --- schema: Runnable ------------------------------------------------------------------------

def test_a_single_recipe_is_a_one_link_list():
    assert Runnable(recipe="gptq").links == [RecipeLink(recipe="gptq", note="")]


def test_recipes_take_bare_slugs_and_notes_in_order():
    runnable = Runnable.model_validate(
        {"recipes": ["rtn", {"recipe": "quanto", "note": "packed int4"}, "torchao-int4"]})
    assert [(link.recipe, link.note) for link in runnable.links] == [
        ("rtn", ""), ("quanto", "packed int4"), ("torchao-int4", "")]


def test_a_reason_means_no_links():
    assert Runnable(reason="No kernel exists.").links == []


@pytest.mark.parametrize("fields", [
    {},
    {"recipes": []},
    {"recipe": "gptq", "reason": "both"},
    {"recipe": "gptq", "recipes": ["awq"]},
    {"recipes": ["gptq"], "reason": "both"},
    {"recipe": "gptq", "recipes": ["awq"], "reason": "all three"},
], ids=["none", "empty-list", "recipe-reason", "recipe-recipes", "recipes-reason", "all"])
def test_runnable_needs_exactly_one_of_recipe_recipes_or_reason(fields):
    with pytest.raises(ValidationError, match="exactly one of 'recipe', 'recipes' or 'reason'"):
        Runnable.model_validate(fields)


@pytest.mark.parametrize("recipes", [
    ["rtn", "rtn"],
    ["rtn", {"recipe": "rtn", "note": "again, with a note"}],
])
def test_a_recipe_listed_twice_is_refused(recipes):
    with pytest.raises(ValidationError, match="lists a recipe twice"):
        Runnable.model_validate({"recipes": recipes})


@pytest.mark.parametrize("recipes", [
    ["Not A Slug"],
    [{"recipe": "rtn", "notes": "misspelt key"}],
    [{"note": "no recipe"}],
    [42],
])
def test_malformed_recipe_links_are_refused(recipes):
    with pytest.raises(ValidationError):
        Runnable.model_validate({"recipes": recipes})


# --- schema: ReportedResult ------------------------------------------------------------------

def _result(**fields) -> ReportedResult:
    base = dict(model="Llama-2-7B", metric="WikiText-2 perplexity", baseline=5.47, value=5.6,
                lower_is_better=True, setting="4-bit", protocol="WikiText-2 test",
                source="frantar2022gptq")
    return ReportedResult(**{**base, **fields})


def test_a_result_carries_what_it_is_comparable_with():
    result = _result(dataset="WikiText-2 test", context_tokens=2048, perplexity_level="word",
                     baseline_is="the FP16 model")
    assert (result.dataset, result.context_tokens, result.perplexity_level,
            result.baseline_is) == ("WikiText-2 test", 2048, "word", "the FP16 model")
    assert result.is_perplexity


def test_the_new_result_fields_default_to_unstated_and_the_unmodified_model():
    result = _result()
    assert (result.dataset, result.context_tokens, result.perplexity_level) == (None,) * 3
    assert result.baseline_is == "the unmodified model"


@pytest.mark.parametrize("metric", ["average zero-shot accuracy", "decoding speedup"])
def test_a_perplexity_level_on_another_metric_is_refused(metric):
    with pytest.raises(ValidationError, match="perplexity_level is for perplexities only"):
        _result(metric=metric, perplexity_level="token")


@pytest.mark.parametrize("metric", ["WikiText-2 perplexity", "C4 PERPLEXITY", "perplexity"])
def test_any_metric_naming_perplexity_is_a_perplexity(metric):
    assert _result(metric=metric, perplexity_level="byte").is_perplexity


@pytest.mark.parametrize(("fields", "field"), [
    ({"perplexity_level": "character"}, "perplexity_level"),
    ({"context_tokens": 0}, "context_tokens"),
    ({"dataset": "x"}, "dataset"),
    ({"baseline_is": "no"}, "baseline_is"),
])
def test_malformed_result_fields_are_refused(fields, field):
    with pytest.raises(ValidationError, match=field):
        _result(**fields)


# --- loader: gaps ----------------------------------------------------------------------------

WANDA_TAKEAWAY = f"no weight update.\n    takeaway: {TAKEAWAY}\n"
FAMILY_LEVEL = ("Storing and computing with fewer bits per weight or activation.\n"
                f"    takeaway: {TAKEAWAY}\n    level: introductory\n")
GPTQ_RESULT = ("        protocol: WikiText-2 test, 2048 tokens\n"
               "        dataset: WikiText-2 test\n"
               "        context_tokens: 2048\n"
               "        perplexity_level: token\n")


def test_the_fixture_has_no_gaps(mini_data_dir):
    files = {p.name: load_file(p) for p in _paths(mini_data_dir)}
    assert content_gaps(files) == []


def test_a_node_without_a_takeaway_is_refused_naming_file_and_node(mini_data_dir):
    _edit(mini_data_dir / "pruning.yaml", WANDA_TAKEAWAY, "no weight update.\n")
    with pytest.raises(TaxonomyError) as error:
        load_taxonomy(mini_data_dir)
    assert str(error.value) == "pruning.yaml: node 'wanda': every node must fill takeaway"


def test_a_family_without_a_level_is_refused(mini_data_dir):
    _edit(mini_data_dir / "quantization.yaml", FAMILY_LEVEL, FAMILY_LEVEL.replace(
        "    level: introductory\n", ""))
    with pytest.raises(TaxonomyError,
                       match="quantization.yaml: node 'quantization': every node must fill level"):
        load_taxonomy(mini_data_dir)


@pytest.mark.parametrize(("line", "gap"), [
    ("        dataset: WikiText-2 test\n", "name the dataset or benchmark it was measured on"),
    ("        context_tokens: 2048\n",
     "a perplexity needs its context_tokens (window length)"),
    ("        perplexity_level: token\n",
     "a perplexity needs its perplexity_level: token, word or byte"),
    ("        baseline: 8.34\n", "give the baseline, or a note saying why there is none"),
], ids=["dataset", "window", "perplexity-level", "baseline"])
def test_a_result_gap_is_refused_naming_file_node_and_result(mini_data_dir, line, gap):
    _edit(mini_data_dir / "quantization.yaml", line, "")
    with pytest.raises(TaxonomyError) as error:
        load_taxonomy(mini_data_dir)
    assert str(error.value) == f"quantization.yaml: node 'gptq': reported_results[0]: {gap}"


def test_a_note_stands_in_for_a_missing_baseline(mini_data_dir):
    _edit(mini_data_dir / "quantization.yaml", "        baseline: 8.34\n",
          "        note: The paper gives no FP16 number for this setting.\n")
    gptq = next(n for n in load_taxonomy(mini_data_dir).nodes if n.slug == "gptq")
    assert gptq.reported_results[0].baseline is None


def test_a_result_that_is_not_a_perplexity_needs_no_window_or_level(mini_data_dir):
    _edit(mini_data_dir / "quantization.yaml", GPTQ_RESULT,
          "        protocol: lm-eval-harness, 7 tasks\n"
          "        dataset: lm-eval-harness zero-shot suite\n")
    _edit(mini_data_dir / "quantization.yaml", "metric: WikiText-2 perplexity",
          "metric: average zero-shot accuracy")
    gptq = next(n for n in load_taxonomy(mini_data_dir).nodes if n.slug == "gptq")
    assert gptq.reported_results[0].context_tokens is None


def test_every_gap_is_listed_at_once(mini_data_dir):
    _edit(mini_data_dir / "pruning.yaml", WANDA_TAKEAWAY, "no weight update.\n")
    _edit(mini_data_dir / "quantization.yaml", GPTQ_RESULT, "        protocol: WikiText-2\n")
    with pytest.raises(TaxonomyError) as error:
        load_taxonomy(mini_data_dir)
    lines = str(error.value).splitlines()
    assert len(lines) == 4, lines
    assert "pruning.yaml: node 'wanda': every node must fill takeaway" in lines
    assert sum(line.startswith("quantization.yaml: node 'gptq': reported_results[0]: ")
               for line in lines) == 3


def test_allow_gaps_loads_content_with_gaps(mini_data_dir):
    _edit(mini_data_dir / "pruning.yaml", WANDA_TAKEAWAY, "no weight update.\n")
    _edit(mini_data_dir / "quantization.yaml", "        dataset: WikiText-2 test\n", "")
    with pytest.raises(TaxonomyError):
        load_paths(_paths(mini_data_dir))
    taxonomy = load_paths(_paths(mini_data_dir), allow_gaps=True)
    wanda = next(n for n in taxonomy.nodes if n.slug == "wanda")
    assert wanda.takeaway is None
    assert load_taxonomy(mini_data_dir, allow_gaps=True).family_of["wanda"] == "pruning"
    files = {p.name: load_file(p) for p in _paths(mini_data_dir)}
    assert len(content_gaps(files)) == 2


def test_allow_gaps_does_not_let_structural_errors_through(mini_data_dir):
    _edit(mini_data_dir / "quantization.yaml", "parent: weight-only\n", "parent: nowhere\n")
    with pytest.raises(TaxonomyError, match="parent 'nowhere' does not exist"):
        load_taxonomy(mini_data_dir, allow_gaps=True)


def test_a_perplexity_level_on_another_metric_names_the_file(mini_data_dir):
    _edit(mini_data_dir / "quantization.yaml", "metric: WikiText-2 perplexity",
          "metric: average zero-shot accuracy")
    with pytest.raises(TaxonomyError, match=r"quantization.yaml: nodes\[2\] \(gptq\)"
                                            r"\.reported_results\[0\]: .*perplexities only"):
        load_taxonomy(mini_data_dir, allow_gaps=True)


def test_a_takeaway_too_short_in_a_file_names_file_node_and_field(mini_data_dir):
    _edit(mini_data_dir / "pruning.yaml", WANDA_TAKEAWAY,
          "no weight update.\n    takeaway: Too short.\n")
    with pytest.raises(TaxonomyError, match=r"pruning.yaml: nodes\[1\] \(wanda\)\.takeaway"):
        load_taxonomy(mini_data_dir)


# --- loader: several recipes -----------------------------------------------------------------

def test_a_node_may_list_several_recipes(mini_data_dir):
    _edit(mini_data_dir / "pruning.yaml", "runnable: {recipe: wanda}",
          'runnable: {recipes: [wanda, {recipe: sparsegpt, note: "with weight updates"}]}')
    wanda = next(n for n in load_taxonomy(mini_data_dir).nodes if n.slug == "wanda")
    assert [(link.recipe, link.note) for link in wanda.runnable.links] == [
        ("wanda", ""), ("sparsegpt", "with weight updates")]


@pytest.mark.parametrize("allow_gaps", [False, True])
def test_an_unknown_recipe_in_recipes_is_refused(mini_data_dir, allow_gaps):
    _edit(mini_data_dir / "pruning.yaml", "runnable: {recipe: wanda}",
          "runnable: {recipes: [wanda, {recipe: wandaa, note: typo}]}")
    with pytest.raises(TaxonomyError, match="pruning.yaml: node 'wanda': unknown recipe 'wandaa'"):
        load_taxonomy(mini_data_dir, allow_gaps=allow_gaps)


def test_a_recipe_listed_twice_in_a_file_is_refused(mini_data_dir):
    _edit(mini_data_dir / "pruning.yaml", "runnable: {recipe: wanda}",
          "runnable: {recipes: [wanda, wanda]}")
    with pytest.raises(TaxonomyError, match=r"pruning.yaml: nodes\[1\] \(wanda\)\.runnable.*"
                                            r"lists a recipe twice"):
        load_taxonomy(mini_data_dir)


# --- scripts/check_taxonomy.py --gaps --------------------------------------------------------

def _check(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(CHECKER), *map(str, args)], capture_output=True,
                          text=True, timeout=300, cwd=ROOT)


def _extra_file_with_gaps(tmp_path: Path) -> Path:
    """A method added under the real pruning family, lacking its takeaway, its level and every
    field that says what its one reported perplexity compares with."""
    fixture = yaml.safe_load((Path(__file__).parents[1] / "fixtures" / "mini_taxonomy"
                              / "pruning.yaml").read_text())
    node = next(n for n in fixture["nodes"] if n["slug"] == "wanda")
    for field in ("takeaway", "level"):
        del node[field]
    node.update(slug="extra-gap-method", name="Extra gap method", parent="pruning",
                runnable={"reason": "Added by a test."}, reported_results=[{
                    "model": "Llama-2-7B", "metric": "WikiText-2 perplexity", "value": 7.0,
                    "lower_is_better": True, "setting": "50% sparsity",
                    "protocol": "WikiText-2", "source": "sun2023simple"}])
    path = tmp_path / "pruning-extra-gaps.yaml"
    path.write_text(yaml.safe_dump(
        {"schema_version": 1, "family": "pruning", "nodes": [node]}, sort_keys=False))
    return path


def test_check_gaps_on_the_shipped_taxonomy_says_no_gaps():
    done = _check("--gaps")
    assert (done.returncode, done.stdout.strip()) == (0, "No gaps."), done.stdout + done.stderr


def test_check_gaps_lists_every_gap_of_the_named_file_and_fails(tmp_path):
    done = _check("--gaps", _extra_file_with_gaps(tmp_path))
    assert done.returncode == 1, done.stdout + done.stderr
    lines = done.stdout.strip().splitlines()
    where = "pruning-extra-gaps.yaml: node 'extra-gap-method'"
    assert lines == [
        f"{where}: every node must fill takeaway, level",
        f"{where}: reported_results[0]: name the dataset or benchmark it was measured on",
        f"{where}: reported_results[0]: a perplexity needs its perplexity_level: "
        "token, word or byte",
        f"{where}: reported_results[0]: a perplexity needs its context_tokens (window length)",
        f"{where}: reported_results[0]: give the baseline, or a note saying why there is none",
    ]


def test_check_without_gaps_flag_says_the_content_is_incomplete(tmp_path):
    done = _check(_extra_file_with_gaps(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "INCOMPLETE: 5 gaps (list them with --gaps)" in done.stdout
    assert "OK:" in done.stdout


def test_check_refuses_a_named_copy_of_a_data_file_with_a_broken_parent(tmp_path):
    original = (DATA_DIR / "pruning.yaml").read_text()
    assert "    parent: pruning\n" in original
    copy = tmp_path / "pruning.yaml"
    copy.write_text(original.replace("    parent: pruning\n", "    parent: no-such-node\n", 1))
    done = _check(copy)
    assert done.returncode == 1 and "INVALID" in done.stdout, done.stdout


# --- seeding and the catalog -----------------------------------------------------------------

HQQ_RUNNABLE = 'runnable: {reason: "Not implemented in this fixture."}'
HQQ_RECIPES = ('runnable: {recipes: [gptq, {recipe: rtn, note: "rounds without error '
               'feedback"}]}')
HQQ_RESULT = """reported_results:
      - model: Llama-2-7B
        metric: average zero-shot accuracy
        baseline: 60.1
        value: 59.0
        lower_is_better: false
        setting: 4-bit
        protocol: lm-eval-harness, 7 tasks
        dataset: lm-eval-harness zero-shot suite
        baseline_is: the same student trained without distillation
        source: example2023blog
    runnable"""


@pytest.fixture
def teaching_dir(mini_data_dir):
    """The fixture with HQQ run by two recipes and reporting one non-perplexity result."""
    path = mini_data_dir / "quantization.yaml"
    _edit(path, HQQ_RUNNABLE, HQQ_RECIPES)
    _edit(path, "reported_results: []\n    runnable", HQQ_RESULT)
    return mini_data_dir


def test_seeding_stores_the_takeaway_level_and_recipe_links(engine, teaching_dir):
    seed(engine, load_taxonomy(teaching_dir))
    with session_factory(engine)() as session:
        row = session.scalars(select(models.Technique).where(models.Technique.slug == "hqq")).one()
        assert (row.takeaway, row.level) == (TAKEAWAY, "introductory")
        assert row.runnable_recipe == "gptq"
        assert row.recipe_links == [{"recipe": "gptq", "note": ""},
                                    {"recipe": "rtn", "note": "rounds without error feedback"}]


def test_the_catalog_reads_recipes_with_notes_the_usual_one_first(engine, teaching_dir):
    seed(engine, load_taxonomy(teaching_dir))
    catalog = load_catalog(engine)
    hqq = catalog.get("hqq")
    assert hqq.recipes == (RecipeLinkView("gptq"),
                           RecipeLinkView("rtn", "rounds without error feedback"))
    assert hqq.runnable_recipe == hqq.recipes[0].recipe == "gptq"
    assert (hqq.takeaway, hqq.level) == (TAKEAWAY, "introductory")
    assert catalog.get("gptq").recipes == (RecipeLinkView("gptq"),)
    # A family names no recipe.
    assert catalog.get("quantization").recipes == ()


def test_the_catalog_reads_the_result_fields_back(engine, teaching_dir):
    seed(engine, load_taxonomy(teaching_dir))
    catalog = load_catalog(engine)
    (gptq,) = catalog.get("gptq").reported_results
    assert (gptq.dataset, gptq.context_tokens, gptq.perplexity_level, gptq.baseline_is) == (
        "WikiText-2 test", 2048, "token", "the unmodified model")
    assert gptq.comparison_key == ("opt-175b", "wikitext-2 perplexity", "wikitext-2 test",
                                   "2048", "token", "the unmodified model")
    (hqq,) = catalog.get("hqq").reported_results
    assert (hqq.dataset, hqq.context_tokens, hqq.perplexity_level) == (
        "lm-eval-harness zero-shot suite", None, None)
    assert hqq.baseline_is == "the same student trained without distillation"
    assert hqq.comparison_key[3:5] == (None, None)


def test_changing_a_recipe_note_updates_the_node(engine, teaching_dir):
    seed(engine, load_taxonomy(teaching_dir))
    _edit(teaching_dir / "quantization.yaml", "rounds without error feedback",
          "rounds each weight alone")
    report = seed(engine, load_taxonomy(teaching_dir))
    assert (report.created, report.updated, report.deleted) == (0, 1, 0)
    assert load_catalog(engine).get("hqq").recipes[1].note == "rounds each weight alone"


def test_a_row_seeded_before_recipe_links_reads_as_its_one_recipe(engine, teaching_dir):
    seed(engine, load_taxonomy(teaching_dir))
    with session_factory(engine)() as session, session.begin():
        session.execute(update(models.Technique).where(models.Technique.slug == "hqq")
                        .values(recipe_links=None))
    assert load_catalog(engine).get("hqq").recipes == (RecipeLinkView("gptq"),)


def test_comparison_key_ignores_case_and_spacing(engine, teaching_dir):
    seed(engine, load_taxonomy(teaching_dir))
    (result,) = load_catalog(engine).get("gptq").reported_results
    respelt = replace(result, model="  opt-175B ", dataset="WikiText-2   TEST",
                      metric="WIKITEXT-2 Perplexity")
    assert respelt.comparison_key == result.comparison_key
    for field, value in (("perplexity_level", "word"), ("context_tokens", 4096),
                         ("baseline_is", "the FP16 model"), ("dataset", "C4 validation")):
        assert replace(result, **{field: value}).comparison_key != result.comparison_key, field


# --- the shipped taxonomy --------------------------------------------------------------------

def test_every_shipped_node_has_a_takeaway_and_a_level(full_taxonomy):
    for node in full_taxonomy.nodes:
        assert node.takeaway and 40 <= len(node.takeaway) <= 320, node.slug
        assert node.level in ("introductory", "advanced"), node.slug


def test_the_shipped_taxonomy_has_no_gaps():
    assert content_gaps({p.name: load_file(p) for p in _paths(DATA_DIR)}) == []


def test_the_shipped_taxonomy_has_at_least_100_nodes(full_taxonomy):
    assert len(full_taxonomy.nodes) >= 100


def test_rtn_is_run_by_three_recipes_the_simulated_one_first(full_taxonomy):
    rtn = next(n for n in full_taxonomy.nodes if n.slug == "rtn")
    assert [link.recipe for link in rtn.runnable.links] == ["rtn", "quanto", "torchao-int4"]
    assert all(link.note for link in rtn.runnable.links)


def test_every_shipped_perplexity_says_its_level_and_window(full_taxonomy):
    perplexities = [r for n in full_taxonomy.nodes for r in n.reported_results if r.is_perplexity]
    assert len(perplexities) >= 20
    for result in perplexities:
        assert result.perplexity_level and result.context_tokens, result
