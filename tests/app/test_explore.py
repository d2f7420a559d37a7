"""The Explore page, driven as a user would with Streamlit's AppTest on the full taxonomy."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import core
from db.engine import make_engine
from taxonomy.catalog import SearchFilter, load_catalog
from taxonomy.glossary import load_glossary

MAIN = str(Path(__file__).resolve().parents[2] / "app" / "main.py")


@pytest.fixture
def app(seeded_db_url, monkeypatch) -> AppTest:
    monkeypatch.setenv("OPTATLAS_DB_URL", seeded_db_url)
    return AppTest.from_file(MAIN, default_timeout=30)


@pytest.fixture(scope="module")
def catalog(seeded_db_url):
    engine = make_engine(seeded_db_url)
    yield load_catalog(engine)
    engine.dispose()


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
    assert len(at.main.get("html")) == 1  # reported results table


def test_unknown_deep_link_warns_and_shows_the_overview(app):
    app.query_params["technique"] = "no-such-node"
    at = app.run()
    assert any("no-such-node" in w.value for w in at.warning)
    assert at.metric


def test_hostile_deep_link_is_shown_as_short_plain_text(app):
    app.query_params["technique"] = "[click](https://example.org)" + "x" * 5000
    at = app.run()
    assert not at.exception
    warning = at.warning[0].value
    assert len(warning) < 200 and "…" in warning
    assert "](" not in warning  # escaped: Markdown cannot turn it into a link


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


def _hit_slugs(at: AppTest) -> list[str]:
    return [b.key.removeprefix("hit-") for b in at.button if b.key and b.key.startswith("hit-")]


def test_search_finds_other_spellings_and_lists_the_best_first(app):
    at = app.run()
    at.sidebar.text_input(key="search_text").input("kv cache").run()
    hits = _hit_slugs(at)
    assert {"pagedattention", "multi-query-attention", "grouped-query-attention"} <= set(hits)
    # Ranked, not in tree order: a node named for the KV cache leads.
    assert hits[0] in {"kv-cache-quantization", "kv-cache-management", "static-kv-cache",
                       "transformers-quantized-kv-cache"}
    assert hits.index("kv-cache-management") < hits.index("pagedattention")
    # The tree stays a tree: families in their order, whatever the ranking.
    assert [e.label for e in at.expander][:1] == ["Quantization"]


def test_search_and_facets_are_written_to_the_url(app):
    app.query_params["technique"] = "gptq"
    at = app.run()
    at.sidebar.text_input(key="search_text").input("kv cache").run()
    at.sidebar.multiselect(key="filter_goals").set_value(["memory"]).run()
    at.sidebar.multiselect(key="filter_hardware").set_value(["cpu"]).run()
    at.sidebar.segmented_control(key="filter_calibration").set_value("No").run()
    assert not at.exception
    params = at.query_params
    assert (params["q"], params["goal"], params["hardware"], params["calibration"]) == (
        "kv cache", "memory", "cpu", "no")
    assert params["technique"] == "gptq"  # the open node's parameter stays
    assert "training" not in params
    at.sidebar.text_input(key="search_text").input("").run()
    assert "q" not in at.query_params


def test_a_shared_search_url_restores_the_widgets(app, catalog):
    app.query_params.update(q="kv cache", goal="memory", hardware="cpu", calibration="no")
    at = app.run()
    assert not at.exception
    assert at.sidebar.text_input(key="search_text").value == "kv cache"
    assert at.sidebar.multiselect(key="filter_goals").value == ["memory"]
    assert at.sidebar.multiselect(key="filter_hardware").value == ["cpu"]
    assert at.sidebar.segmented_control(key="filter_calibration").value == "No"
    assert at.sidebar.segmented_control(key="filter_training").value == "Any"
    # The page shows what the shared search finds, no more.
    expected = catalog.matches(SearchFilter(
        text="kv cache", goals=frozenset({"memory"}), hardware=frozenset({"cpu"}),
        needs_calibration=False))
    assert expected and _hit_slugs(at) == [n.slug for n in expected]


def test_hostile_url_values_are_ignored_without_a_traceback(app):
    app.query_params.update(q="kv " * 4000, goal="memory,<script>alert(1)</script>",
                            hardware="quantum", calibration="perhaps", training="no")
    at = app.run()
    assert not at.exception
    box = at.sidebar.text_input(key="search_text")
    assert len(box.value) <= 200

    assert at.sidebar.multiselect(key="filter_goals").value == ["memory"]
    assert at.sidebar.multiselect(key="filter_hardware").value == []
    assert at.sidebar.segmented_control(key="filter_calibration").value == "Any"
    # The URL is rewritten to what the page understood.
    assert at.query_params["goal"] == "memory" and "hardware" not in at.query_params


def test_a_long_pasted_search_is_searched_by_its_start_and_says_so(app):
    at = app.run()
    at.sidebar.text_input(key="search_text").input("kv cache " * 100).run()
    assert not at.exception
    assert any("Searching the first 200 of its 900 characters" in c.value
               for c in at.sidebar.caption)


def _main_order(at: AppTest) -> list[str]:
    """The main area's elements, depth first, as 'type' or 'type:text'."""
    order: list[str] = []

    def walk(node) -> None:
        kind = getattr(node, "type", "")
        value = getattr(node, "value", None) if kind in ("header", "markdown") else None
        order.append(f"{kind}:{value}" if isinstance(value, str) else kind)
        for child in getattr(node, "children", {}).values():
            walk(child)

    walk(at.main)
    return order


def test_landing_page_puts_its_title_and_intro_above_the_chart(app):
    at = app.run()
    order = _main_order(at)
    title = next(i for i, e in enumerate(order) if "An atlas of LLM inference" in e)
    chart = order.index("plotly_chart")
    assert title < chart
    intro = next(i for i, e in enumerate(order) if e.startswith("markdown:OptAtlas maps"))
    assert intro < chart
    # The intro names the product's other half: running, following and comparing jobs.
    intro_text = order[intro]
    for page in ("Launch", "Jobs", "Results"):
        assert page in intro_text, page


def test_landing_page_has_a_start_here_path(app):
    at = app.run()
    links = {(link.proto.page, link.proto.query_string) for link in at.main.get("page_link")}
    assert ("launch", "technique=rtn&model=tiny") in links
    assert ("results", "") in links
    assert any(query == "technique=rtn" for _, query in links)
    # Reading RTN is the first step: following it opens the node.
    links = at.main.get("page_link")
    explore = next(link for link in links if link.proto.query_string == "technique=rtn")
    assert "round-to-nearest" in explore.proto.label.lower()
    # Only on the landing page: an open node or a search replaces it.
    at.sidebar.text_input(key="search_text").input("gptq").run()
    assert not any(link.proto.page == "results" for link in at.main.get("page_link"))


def test_reported_results_fit_the_column_without_horizontal_scrolling(app, full_taxonomy):
    # GPTQ's results carry long protocols: the table wraps them instead of scrolling.
    gptq = next(n for n in full_taxonomy.nodes if n.slug == "gptq")
    app.query_params["technique"] = "gptq"
    at = app.run()
    assert not at.dataframe  # a data grid sizes columns to content and scrolls sideways
    table = at.main.get("html")[0].value
    assert "table-layout: fixed" in table and "width: 100%" in table
    assert "overflow-wrap: anywhere" in table
    header = table[table.index("<thead>"):table.index("</thead>")]
    assert header.count('<th scope="col"') <= 6
    for result in gptq.reported_results:
        assert html.escape(result.protocol) in table
    assert 'href="https://arxiv.org/abs/2210.17323"' in table


def test_a_technique_page_names_its_file_and_shows_its_central_function(app):
    app.query_params["technique"] = "gptq"
    at = app.run()
    assert not at.exception
    said = " ".join(m.value for m in at.main.markdown)
    assert "Implemented in `core/quantization/gptq.py`" in said
    assert "`apply_gptq`" in said  # the entry point the job runner calls
    (expander,) = [e for e in at.main.expander if "gptq_quantize" in e.label]
    assert expander.label == "gptq_quantize (core/quantization/gptq.py)"
    (code,) = expander.code
    # Read from the installed file, not copied into the page.
    source = (Path(core.__file__).parent / "quantization" / "gptq.py").read_text()
    assert code.value.startswith("def gptq_quantize(") and code.value in source


def test_a_node_without_a_recipe_shows_no_code(app):
    app.query_params["technique"] = "quantization"
    at = app.run()
    assert not at.exception
    assert not any("Implemented in" in m.value for m in at.main.markdown)


def _node(full_taxonomy, slug: str):
    return next(n for n in full_taxonomy.nodes if n.slug == slug)


def test_a_node_page_shows_its_takeaway_first_and_its_level(app, full_taxonomy):
    rtn = _node(full_taxonomy, "rtn")
    app.query_params["technique"] = "rtn"
    at = app.run()
    assert not at.exception
    (takeaway,) = at.main.info
    assert re.sub(r'\[([^\]]+)\]\([^)]* "[^"]*"\)', r"\1", takeaway.value) == rtn.takeaway
    order = _main_order(at)
    header = order.index("header:RTN (round-to-nearest)")
    badges = next(i for i, e in enumerate(order) if e.startswith("markdown::blue-badge[method]"))
    summary = next(i for i, e in enumerate(order) if e.startswith("markdown:The simplest"))
    # The takeaway sits right under the title, before the badges and the summary.
    assert order[header + 1] == "info"
    assert header < badges < summary
    assert ":violet-badge[introductory]" in order[badges]


def test_an_advanced_node_says_so(app, full_taxonomy):
    node = next(n for n in full_taxonomy.nodes if n.level == "advanced")
    app.query_params["technique"] = node.slug
    at = app.run()
    assert any(":violet-badge[advanced]" in m.value for m in at.main.markdown)
    assert not any(":violet-badge[introductory]" in m.value for m in at.main.markdown)


def test_a_node_run_by_several_recipes_offers_one_entry_per_recipe(app, full_taxonomy):
    rtn = _node(full_taxonomy, "rtn")
    app.query_params["technique"] = "rtn"
    at = app.run()
    runs = [link.proto for link in at.main.get("page_link")
            if link.proto.label.startswith("Run ")]
    assert [(r.label, r.page, r.query_string) for r in runs] == [
        ("Run with `rtn`", "launch", "technique=rtn&recipe=rtn"),
        ("Run with `quanto`", "launch", "technique=rtn&recipe=quanto"),
        ("Run with `torchao-int4`", "launch", "technique=rtn&recipe=torchao-int4"),
    ]
    # Each entry says how its recipe departs from the method, on hover and beneath it.
    notes = [link.note for link in rtn.runnable.links]
    assert [r.help for r in runs] == notes
    captions = [c.value for c in at.main.caption]
    assert all(note in captions for note in notes)
    assert not any(b.key == "run-technique" for b in at.button)
    # And each recipe's code sits in its own tab.
    assert [t.label for t in at.main.tabs] == [
        "Code: rtn", "Code: quanto", "Code: torchao-int4"]


@pytest.mark.parametrize("recipe", ["rtn", "quanto", "torchao-int4"])
def test_a_run_entry_opens_launch_on_its_recipe(app, recipe):
    app.switch_page("routes/launch.py")
    app.query_params.update(technique="rtn", recipe=recipe)
    at = app.run()
    assert not at.exception
    assert any(m.value == f"**Step 1: RTN (round-to-nearest)** · `{recipe}`"
               for m in at.markdown)


def test_a_glossary_term_on_a_node_page_links_to_its_entry_once(app):
    app.query_params["technique"] = "rtn"
    at = app.run()
    said = [m.value for m in at.main.markdown]
    summary = next(s for s in said if s.startswith("The simplest"))
    mechanism = next(s for s in said if s.startswith("For a group of weights"))
    assert '[zero point](glossary?term=scale-and-zero-point "' in summary
    # The mechanism mentions it again: plain text there, the page links a term once.
    assert "zero point" in mechanism
    assert "term=scale-and-zero-point" not in mechanism
    linked = re.findall(r"\]\(glossary\?term=([a-z0-9-]+) ", "\n".join(said))
    assert len(linked) == len(set(linked)) >= 2
    (terms,) = [e for e in at.main.expander if e.label.startswith("Terms used here")]
    assert terms.label == f"Terms used here ({len(terms.markdown[0].value.splitlines())})"
    assert "(glossary?term=scale-and-zero-point)" in terms.markdown[0].value


def test_a_term_link_leads_to_a_glossary_entry(app):
    app.query_params["technique"] = "gptq"
    at = app.run()
    text = "\n".join(m.value for m in at.main.markdown) + at.main.info[0].value
    slugs = set(re.findall(r"\]\(glossary\?term=([a-z0-9-]+)", text))
    assert slugs and slugs <= set(load_glossary().by_slug)


def test_only_the_recipes_this_version_implements_are_offered(app, monkeypatch):
    import core.recipes

    everything = core.recipes.config_types()
    monkeypatch.setattr(core.recipes, "config_types", lambda: {
        slug: kind for slug, kind in everything.items() if slug != "quanto"})
    app.query_params["technique"] = "rtn"
    at = app.run()
    runs = [link.proto.query_string for link in at.main.get("page_link")
            if link.proto.label.startswith("Run ")]
    assert runs == ["technique=rtn&recipe=rtn", "technique=rtn&recipe=torchao-int4"]


def test_one_implemented_recipe_of_several_is_the_plain_run_entry(app, monkeypatch):
    import core.recipes

    everything = core.recipes.config_types()
    monkeypatch.setattr(core.recipes, "config_types", lambda: {
        slug: kind for slug, kind in everything.items() if slug not in ("rtn", "quanto")})
    app.query_params["technique"] = "rtn"
    at = app.run()
    (run,) = [link.proto for link in at.main.get("page_link")
              if link.proto.label.startswith("Run ")]
    assert (run.label, run.query_string) == ("Run this technique", "technique=rtn")
    assert "`torchao-int4`" in " ".join(c.value for c in at.main.caption)
