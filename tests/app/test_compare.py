"""The Compare page puts two to four techniques side by side, field by field."""

from __future__ import annotations

import html
import re

import pytest
from streamlit.testing.v1 import AppTest

from app.views.compare import comparison_cells, comparison_html, reported_side_by_side_html
from taxonomy.catalog import (
    Catalog,
    ImplementationView,
    ReferenceView,
    ReportedResultView,
    TechniqueView,
    load_catalog,
)
from taxonomy.seed import seed


def _compare_page():
    from app.views import compare

    compare.render()


@pytest.fixture
def app(seeded_db_url, monkeypatch) -> AppTest:
    monkeypatch.setenv("OPTATLAS_DB_URL", seeded_db_url)
    return AppTest.from_function(_compare_page, default_timeout=30)


def test_fewer_than_two_asks_for_more(app):
    at = app.run()
    assert any("at least two" in i.value for i in at.info)
    assert not at.main.get("html")


def _names(taxonomy, *slugs):
    by_slug = {n.slug: n.name for n in taxonomy.nodes}
    return [by_slug[s] for s in slugs]


def _header(table: str) -> list[str]:
    # The technique columns' titles; the first column holds the field names.
    head = table[table.index("<thead>"):table.index("</thead>")]
    return [html.unescape(cell) for cell in re.findall(r'<th scope="col">(.*?)</th>', head)][1:]


def test_chosen_techniques_become_columns(app, full_taxonomy):
    at = app.run()
    at.multiselect(key="compare_choice").set_value(["gptq", "awq", "wanda"]).run()
    assert not at.exception
    table = at.main.get("html")[0].value
    assert _header(table) == _names(full_taxonomy, "gptq", "awq", "wanda")
    for field in ("Summary", "How it works", "Memory", "Needs calibration data", "References"):
        assert f"<th scope=\"row\">{field}</th>" in table, field
    assert at.query_params["techniques"] == "gptq,awq,wanda"


def test_url_preselects_techniques_and_names_the_ones_left_out(app, full_taxonomy):
    app.query_params["techniques"] = "wanda,sparsegpt,not-a-node"
    at = app.run()
    assert _header(at.main.get("html")[0].value) == _names(full_taxonomy, "wanda", "sparsegpt")
    warnings = [w.value for w in at.warning]
    assert warnings == ["No technique is called “not-a-node”; it was left out."]


def test_hostile_compare_urls_warn_briefly_without_a_traceback(app):
    names = ["x" * 5000, "[a](javascript:alert(1))", "quantization"]
    app.query_params["techniques"] = ",".join([*names, *(f"bad{i}" for i in range(50))])
    at = app.run()
    assert not at.exception
    warnings = [w.value for w in at.warning]
    assert len(warnings) <= 4 and all(len(w) < 300 for w in warnings)
    assert "…" in warnings[0]  # the over-long name is cut
    assert "](" not in warnings[1]  # shown as text, never as a link
    assert "not a single technique" in warnings[2]
    assert "more" in warnings[-1]


@pytest.fixture
def catalog(engine, full_taxonomy):
    seed(engine, full_taxonomy)
    return load_catalog(engine)


def test_lists_are_lists_and_links_are_links(catalog):
    gptq = catalog.get("gptq")
    table = comparison_html(catalog, [gptq, catalog.get("awq")])
    assert ".;" not in table
    for challenge in gptq.challenges:
        assert f"<li>{html.escape(challenge)}</li>" in table
    for ref in gptq.references:
        assert f'href="{html.escape(ref.link)}"' in table
        assert f"{html.escape(ref.title)}</a> ({ref.year})" in table
    for impl in gptq.implementations:
        assert f'href="{html.escape(impl.url)}"' in table
        assert f">{html.escape(impl.name)}</a>" in table
    assert 'target="_blank"' in table


def _view(slug: str, **fields) -> TechniqueView:
    empty = dict(
        name=slug, parent="fam", family="fam", kind="method", summary="s", mechanism=None,
        saves=None, costs=None, practical=None, challenges=(), runnable_recipe=None,
        not_runnable_reason=None, needs_calibration=None, needs_training=None, goals=(),
        hardware=(), references=(), implementations=(), reported_results=(),
    )
    return TechniqueView(slug=slug, **{**empty, **fields})


def test_comparison_text_is_escaped():
    hostile = dict(
        summary="<script>alert(1)</script> & co",
        challenges=("a <b>bold</b> claim.",),
        implementations=(ImplementationView('x"><i>', "javascript:alert(1)", ""),),
    )
    nodes = {
        "fam": _view("fam", name="Fam", parent=None, kind="family", children=("a", "b")),
        "a": _view("a", name="A <&>", **hostile),
        "b": _view("b", **hostile),
    }
    catalog = Catalog(nodes=nodes, roots=("fam",), reference_count=0)
    table = comparison_html(catalog, [nodes["a"], nodes["b"]])
    assert "<script>" not in table and "&lt;script&gt;" in table
    assert "A &lt;&amp;&gt;" in table and "<b>" not in table and "<i>" not in table
    assert "javascript:" not in table  # only web links become links


def test_split_compared_says_why_each_name_was_left_out(catalog):
    from app.selection import split_compared

    chosen, left_out = split_compared(
        catalog, "gptq, awq,,gptq,wanda,sparsegpt,rtn,pruning,nope")
    assert chosen == ["gptq", "awq", "wanda", "sparsegpt"]
    assert left_out == [
        "At most 4 techniques fit side by side; “RTN (round-to-nearest)” was left out.",
        "“Pruning” is a family of techniques, not a single technique; it was left out.",
        "No technique is called “nope”; it was left out.",
    ]


SIDE_BY_SIDE = "##### Reported numbers side by side"
LLAMA_7B = ("Llama-2-7B · WikiText-2 perplexity · WikiText-2 test · 2048-token window · "
            "token-level · baseline: the unmodified model")


def _technique_cells(table: str) -> list[str]:
    # Each row's first cell: the technique that reports the number.
    body = table[table.index("<tbody>"):]
    return [html.unescape(row) for row in re.findall(r"<tr><td>(.*?)</td>", body)]


def test_gptq_and_awq_numbers_on_llama_2_7b_sit_side_by_side(app, full_taxonomy):
    app.query_params["techniques"] = "gptq,awq"
    at = app.run()
    assert not at.exception
    assert any(m.value == SIDE_BY_SIDE for m in at.main.markdown)
    tables = [h.value for h in at.main.get("html")[1:]]
    (llama,) = [t for t in tables if t.startswith(f"<p><b>{html.escape(LLAMA_7B)}</b> ↓</p>")]
    gptq, awq = _names(full_taxonomy, "gptq", "awq")
    assert {gptq, awq} == set(_technique_cells(llama))
    # The two papers' settings, with their own baseline → reported cells.
    assert "INT4 weights in groups of 128 (g128), GPTQ" in llama
    assert "INT4 weights in groups of 128 (g128), AWQ" in llama
    assert "5.47 → " in llama
    # Numbers measured differently are listed apart, each with its reason.
    (rest,) = [e for e in at.main.expander if e.label.startswith("Reported numbers that stand")]
    assert "nearest counterpart differs in" in rest.get("html")[0].value


def test_techniques_without_comparable_numbers_say_so(app):
    app.query_params["techniques"] = "wanda,medusa"
    at = app.run()
    assert not at.exception
    assert any(m.value == SIDE_BY_SIDE for m in at.main.markdown)
    assert any("None of these techniques' reported numbers measure the same thing" in i.value
               for i in at.info)
    (rest,) = [e for e in at.main.expander if e.label.startswith("Reported numbers that stand")]
    assert "nearest counterpart differs in model" in rest.get("html")[0].value


def _perplexity(level: str, value: float) -> ReportedResultView:
    source = ReferenceView(key="p2023", title="P", authors=("A",), et_al=False, year=2023,
                           venue="V", arxiv=None, doi=None, url="https://example.org/p")
    return ReportedResultView(
        model="Llama-2-7B", metric="WikiText-2 perplexity", baseline=None, value=value,
        unit="", lower_is_better=True, setting=f"{level} setting", protocol="p", note="",
        source=source, dataset="WikiText-2 test", context_tokens=2048, perplexity_level=level)


def test_token_and_word_perplexities_are_never_put_side_by_side():
    nodes = [_view("a", name="Token paper", reported_results=(_perplexity("token", 5.6),)),
             _view("b", name="Word paper", reported_results=(_perplexity("word", 9.1),))]
    tables, rest = reported_side_by_side_html(nodes)
    assert tables == []
    assert "perplexity level: token vs word" in rest
    assert "perplexity level: word vs token" in rest
    assert _technique_cells(rest) == ["Token paper", "Word paper"]


def test_matching_perplexities_make_one_table_naming_the_shared_fields():
    nodes = [_view("a", name="A <paper>", reported_results=(_perplexity("word", 9.1),)),
             _view("b", name="B", reported_results=(_perplexity("word", 9.4),))]
    tables, rest = reported_side_by_side_html(nodes)
    assert rest is None
    (table,) = tables
    assert table.startswith("<p><b>Llama-2-7B · WikiText-2 perplexity · WikiText-2 test · "
                            "2048-token window · word-level · baseline: the unmodified model"
                            "</b> ↓</p>")
    assert "A &lt;paper&gt;" in table and "<paper>" not in table


def test_the_comparison_shows_takeaway_level_and_every_recipe(catalog):
    rtn, gptq = catalog.get("rtn"), catalog.get("gptq")
    cells = comparison_cells(catalog, [rtn, gptq])
    assert cells["In one sentence"] == [html.escape(rtn.takeaway), html.escape(gptq.takeaway)]
    assert cells["Level"] == [rtn.level, gptq.level]
    runnable = cells["Runnable in OptAtlas"][0]
    assert re.findall(r"recipe <code>([a-z0-9-]+)</code>", runnable) == [
        "rtn", "quanto", "torchao-int4"]
    for link in rtn.recipes:
        assert html.escape(link.note) in runnable
    assert cells["Runnable in OptAtlas"][1].count("<code>") == 1


def test_techniques_without_any_reported_numbers_promise_no_list(app, full_taxonomy):
    chosen = [n for n in full_taxonomy.nodes if n.slug in ("spqr", "nf4")]
    assert len(chosen) == 2 and not any(n.reported_results for n in chosen)
    app.query_params["techniques"] = "spqr,nf4"
    at = app.run()
    assert not at.exception
    promised = any("the list below" in i.value for i in at.info)
    listed = any(e.label.startswith("Reported numbers that stand") for e in at.main.expander)
    assert listed or not promised
