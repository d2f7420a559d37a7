"""The Glossary page, driven with AppTest as a reader arriving from a node page's term link:
every term is listed, the term named in the URL comes first, and the search box filters."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app import glossary_links
from taxonomy.glossary import load_glossary

MAIN = str(Path(__file__).resolve().parents[2] / "app" / "main.py")
CHOSEN = " :blue-badge[you came for this]"


@pytest.fixture
def app(seeded_db_url, monkeypatch) -> AppTest:
    monkeypatch.setenv("OPTATLAS_DB_URL", seeded_db_url)
    at = AppTest.from_file(MAIN, default_timeout=30)
    at.switch_page("routes/glossary.py")
    return at


@pytest.fixture(scope="module")
def glossary():
    return load_glossary()


def _entries(at: AppTest) -> list[str]:
    """The entries' titles in page order, as their '#### ' headings read."""
    return [m.value.removeprefix("#### ") for m in at.main.markdown if m.value.startswith("#### ")]


def _count(at: AppTest) -> str:
    return next(c.value for c in at.main.caption if c.value.endswith(" terms"))


def test_every_term_is_listed_in_alphabetical_order(app, glossary):
    at = app.run()
    assert not at.exception
    assert any(h.value == "Glossary" for h in at.header)
    assert _entries(at) == [t.term for t in glossary.terms]
    assert _count(at) == f"{len(glossary.terms)} of {len(glossary.terms)} terms"
    assert not at.warning


def test_an_entry_shows_its_definition_spellings_and_nodes_to_read(app, glossary):
    at = app.run()
    kv = glossary.by_slug["kv-cache"]
    texts = [m.value for m in at.main.markdown]
    assert " ".join(kv.definition.split()) in texts
    assert any(c.value == "Also written: " + ", ".join(kv.aliases) for c in at.main.caption)
    links = {link.proto.query_string for link in at.main.get("page_link")}
    assert {f"technique={slug}" for slug in kv.nodes} <= links


def test_a_term_in_the_url_comes_first_and_is_marked(app, glossary):
    app.query_params[glossary_links.TERM_PARAM] = "kv-cache"
    at = app.run()
    assert not at.exception
    entries = _entries(at)
    assert entries[0] == "KV cache" + CHOSEN
    assert "KV cache" not in entries[1:]  # listed once, not again in its alphabetical place
    assert sorted(e.removesuffix(CHOSEN) for e in entries) == sorted(
        t.term for t in glossary.terms)
    assert sum(CHOSEN in e for e in entries) == 1
    # Its "read next" links come before any other entry's.
    first = at.main.get("page_link")[0].proto
    assert (first.label, first.query_string) == (
        "Read: Quantized KV cache in transformers", "technique=transformers-quantized-kv-cache")


def test_a_node_pages_term_link_opens_its_entry_first(app, glossary):
    # The address a node page writes for a term is the one the page reads.
    url = glossary_links.term_url("perplexity")
    path, query = url.split("?")
    assert path == glossary_links.GLOSSARY_PATH
    name, slug = query.split("=")
    app.query_params[name] = slug
    at = app.run()
    assert _entries(at)[0] == glossary.by_slug["perplexity"].term + CHOSEN


def test_an_unknown_term_warns_and_lists_every_term(app, glossary):
    app.query_params[glossary_links.TERM_PARAM] = "no-such-term"
    at = app.run()
    assert not at.exception
    (warning,) = at.warning
    assert "no-such-term" in warning.value
    assert _entries(at) == [t.term for t in glossary.terms]


def test_a_hostile_term_is_shown_short_and_as_plain_text(app):
    app.query_params[glossary_links.TERM_PARAM] = "[click](https://example.org)" + "x" * 5000
    at = app.run()
    assert not at.exception
    (warning,) = at.warning
    assert len(warning.value) < 200 and "…" in warning.value
    assert "](" not in warning.value


def test_the_search_box_filters_terms(app, glossary):
    at = app.run()
    at.text_input[0].input("outlier").run()
    entries = _entries(at)
    assert entries and len(entries) < len(glossary.terms)
    by_name = {t.term: t for t in glossary.terms}
    for entry in entries:
        term = by_name[entry]
        assert "outlier" in " ".join([term.term, *term.aliases, term.definition]).lower()
    assert _count(at) == f"{len(entries)} of {len(glossary.terms)} terms"
    # Every word must match: a second word narrows the list.
    at.text_input[0].input("outlier smoothquant").run()
    assert 0 < len(_entries(at)) < len(entries)


def test_a_search_without_hits_says_so(app, glossary):
    at = app.run()
    at.text_input[0].input("zzzz-no-such-word").run()
    assert not at.exception
    assert _entries(at) == []
    assert any("No term matches" in i.value for i in at.info)
    assert _count(at) == f"0 of {len(glossary.terms)} terms"


def test_a_search_replaces_the_chosen_term_at_the_top(app):
    app.query_params[glossary_links.TERM_PARAM] = "kv-cache"
    at = app.run()
    at.text_input[0].input("perplexity").run()
    entries = _entries(at)
    assert entries[0] != "KV cache" + CHOSEN
    assert not any(CHOSEN in e for e in entries)
    assert "Perplexity" in entries
