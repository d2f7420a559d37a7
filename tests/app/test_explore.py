"""The Explore page, driven as a user would with Streamlit's AppTest on the full taxonomy."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

MAIN = str(Path(__file__).resolve().parents[2] / "app" / "main.py")


@pytest.fixture
def app(seeded_db_url, monkeypatch) -> AppTest:
    monkeypatch.setenv("OPTATLAS_DB_URL", seeded_db_url)
    return AppTest.from_file(MAIN, default_timeout=30)


def _texts(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [h.value for h in at.header]
    parts += [c.value for c in at.caption]
    return "\n".join(parts)


def _tree_slugs(at: AppTest) -> set[str]:
    return {b.key.removeprefix("tree-") for b in at.button if b.key and b.key.startswith("tree-")}


def test_tree_renders_every_family(app, full_taxonomy):
    at = app.run()
    assert not at.exception
    labels = {e.label for e in at.expander}
    assert {"Quantization", "Pruning", "Knowledge distillation"} <= labels
    assert _tree_slugs(at) == {n.slug for n in full_taxonomy.nodes}
    assert len(at.get("plotly_chart")) == 1


def test_overview_shows_counts_without_a_selection(app, full_taxonomy):
    at = app.run()
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Techniques"] == str(len(full_taxonomy.nodes))
    assert metrics["References"] == str(len(full_taxonomy.references))


def test_search_filters_the_tree(app):
    at = app.run()
    at.sidebar.text_input(key="search_text").input("speculative").run()
    slugs = _tree_slugs(at)
    assert "speculative-decoding" in slugs
    assert "gptq" not in slugs
    # The hit keeps its context: the branches above it stay visible.
    assert {"architecture", "decoding-optimizations"} <= slugs
    # The main column lists the hits, each one click from its details.
    at.button(key="hit-speculative-decoding").click().run()
    assert at.query_params["technique"] == "speculative-decoding"


def test_facet_filter_hides_techniques_that_need_training(app, full_taxonomy):
    at = app.run()
    at.sidebar.segmented_control(key="filter_training").set_value("No").run()
    shown = _tree_slugs(at)
    assert "qlora" not in shown and "gptq" in shown
    for node in full_taxonomy.nodes:
        if node.tags and node.tags.needs_training:
            assert node.slug not in shown


def test_search_without_hits_says_so(app):
    at = app.run()
    at.sidebar.text_input(key="search_text").input("zzzz-no-such-thing").run()
    assert any("No technique matches" in i.value for i in at.info)


def test_selecting_a_node_shows_every_section(app):
    at = app.run()
    at.button(key="tree-gptq").click().run()
    assert not at.exception
    assert at.query_params["technique"] == "gptq"
    text = _texts(at)
    assert any(h.value == "GPTQ" for h in at.header)
    for section in ("How it works", "What it saves", "What it costs", "Challenges",
                    "Practical considerations", "Implementations", "References",
                    "Reported results"):
        assert f"##### {section}" in text, section
    assert "arxiv.org/abs/2210.17323" in text
    # GPTQ runs: its entry point links to the Launch page, naming the technique.
    run = next(link for link in at.get("page_link") if link.proto.label == "Run this technique")
    assert (run.proto.page, run.proto.query_string) == ("launch", "technique=gptq")
    assert "`gptq`" in run.proto.help
    assert not any(b.key == "run-technique" for b in at.button)


def test_deep_link_opens_the_named_technique(app, full_taxonomy):
    wanda = next(n for n in full_taxonomy.nodes if n.slug == "wanda")
    app.query_params["technique"] = "wanda"
    at = app.run()
    assert any(h.value == wanda.name for h in at.header)
    assert len(at.dataframe) == 1  # reported results table


def test_unknown_deep_link_warns_and_shows_the_overview(app):
    app.query_params["technique"] = "no-such-node"
    at = app.run()
    assert any("no-such-node" in w.value for w in at.warning)
    assert at.metric


def test_non_runnable_node_explains_why(app, full_taxonomy):
    node = next(n for n in full_taxonomy.nodes if n.runnable and n.runnable.reason)
    app.query_params["technique"] = node.slug
    at = app.run()
    assert at.button(key="run-technique").disabled
    assert node.runnable.reason in _texts(at)


def test_a_recipe_not_implemented_in_this_version_is_disabled_with_its_reason(
        app, full_taxonomy, monkeypatch):
    # Every slug a node may name is implemented today (tests/core/recipes checks that); an
    # older engine behind a newer taxonomy must still say why a node cannot run.
    import core.recipes

    node = next(n for n in full_taxonomy.nodes if n.runnable and n.runnable.recipe)
    everything = core.recipes.config_types()
    monkeypatch.setattr(core.recipes, "config_types", lambda: {
        slug: kind for slug, kind in everything.items() if slug != node.runnable.recipe})
    app.query_params["technique"] = node.slug
    at = app.run()
    button = at.button(key="run-technique")
    assert button.disabled and f"`{node.runnable.recipe}`" in button.help
    assert "not finished yet" in button.help
