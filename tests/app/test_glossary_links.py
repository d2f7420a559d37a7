"""Glossary links in node prose: the first mention of a term on a page links to its entry, with
a short hover text that cannot break the Markdown link; later mentions stay plain text."""

from __future__ import annotations

import re

import pytest

from app import page_ids
from app.glossary_links import (
    GLOSSARY_PATH,
    HOVER_CHARS,
    hover_text,
    link_terms,
    term_url,
    terms_in,
)
from taxonomy.glossary import load_glossary, parse_glossary

LONG_DEFINITION = ("The keys and values of every earlier token, kept in memory so that each new "
                   'token attends to them; the "cache" grows with batch size and context length, '
                   "and at long context it outgrows the weights: Llama-2-7B in FP16 stores about "
                   "half a megabyte per token, about two gigabytes for one long sequence of text.")
LINK = re.compile(r'\[([^\]]+)\]\(glossary\?term=([a-z0-9-]+) "([^"]*)"\)')


@pytest.fixture
def glossary():
    def term(slug, name, aliases=(), definition="A definition of forty characters or more, plain."):
        return {"slug": slug, "term": name, "aliases": list(aliases), "definition": definition}

    return parse_glossary({"schema_version": 1, "terms": [
        term("kv-cache", "KV cache", ["key-value cache"], LONG_DEFINITION),
        term("perplexity", "Perplexity", ["PPL"]),
        term("int4", "INT4"),
    ]})


def _links(markdown: str) -> list[tuple[str, str, str]]:
    return LINK.findall(markdown)


def test_the_glossary_url_is_the_glossary_pages_path():
    assert term_url("kv-cache") == "glossary?term=kv-cache"
    assert page_ids.GLOSSARY.url_path == GLOSSARY_PATH


def test_the_first_mention_is_linked_with_its_definition(glossary):
    seen: set[str] = set()
    out = link_terms("Perplexity rises when INT4 weights are used.", glossary, seen)
    assert out.startswith("[Perplexity](glossary?term=perplexity \"")
    assert _links(out) == [
        ("Perplexity", "perplexity", hover_text(glossary.by_slug["perplexity"])),
        ("INT4", "int4", hover_text(glossary.by_slug["int4"])),
    ]
    assert LINK.sub(r"\1", out) == "Perplexity rises when INT4 weights are used."
    assert seen == {"perplexity", "int4"}


def test_only_the_first_mention_in_a_text_is_linked(glossary):
    out = link_terms("The KV cache grows; a larger key-value cache, then the KV cache.",
                     glossary, set())
    assert [slug for _, slug, _ in _links(out)] == ["kv-cache"]
    assert _links(out)[0][0] == "KV cache"
    assert out.endswith("a larger key-value cache, then the KV cache.")


def test_one_page_links_a_term_once_across_its_texts(glossary):
    seen: set[str] = set()
    takeaway = link_terms("Shrinks the KV cache.", glossary, seen)
    summary = link_terms("The KV cache is quantized to INT4.", glossary, seen)
    mechanism = link_terms("INT4 keys, INT4 values; perplexity barely moves.", glossary, seen)
    assert [slug for _, slug, _ in _links(takeaway)] == ["kv-cache"]
    assert [slug for _, slug, _ in _links(summary)] == ["int4"]
    assert [slug for _, slug, _ in _links(mechanism)] == ["perplexity"]
    assert mechanism.startswith("INT4 keys, INT4 values; [perplexity](")


def test_a_term_already_seen_is_not_linked(glossary):
    text = "The KV cache and INT4."
    assert link_terms(text, glossary, {"kv-cache", "int4"}) == text


def test_text_without_terms_is_unchanged(glossary):
    seen: set[str] = set()
    assert link_terms("Nothing here to link, not even INT48.", glossary, seen) == (
        "Nothing here to link, not even INT48.")
    assert seen == set()


def test_hover_text_has_no_double_quotes_and_is_cut_at_a_word(glossary):
    text = hover_text(glossary.by_slug["kv-cache"])
    assert '"' not in text and "'cache'" in text
    assert len(text) <= HOVER_CHARS + 1 and text.endswith("…")
    assert LONG_DEFINITION.replace('"', "'").startswith(text[:-1])
    assert not text[:-1].endswith(" ")
    # Cut between words: the word before the ellipsis is whole.
    assert LONG_DEFINITION.replace('"', "'")[len(text) - 1] == " "


def test_a_short_definition_is_kept_whole_and_its_spacing_folded():
    glossary = parse_glossary({"schema_version": 1, "terms": [
        {"slug": "int4", "term": "INT4",
         "definition": "Four-bit   integers,\n  sixteen levels   from -8 to 7, for weights."}]})
    assert hover_text(glossary.by_slug["int4"]) == (
        "Four-bit integers, sixteen levels from -8 to 7, for weights.")


def test_a_link_title_survives_quotes_in_the_definition(glossary):
    out = link_terms("The KV cache.", glossary, set())
    (link,) = _links(out)
    assert link[2] == hover_text(glossary.by_slug["kv-cache"])
    assert out.endswith(")."), out


def test_terms_in_lists_each_term_once_in_order_of_first_mention(glossary):
    texts = ["INT4 weights.", "Perplexity and the KV cache.", "INT4 again, PPL again."]
    assert [t.slug for t in terms_in(texts, glossary)] == ["int4", "perplexity", "kv-cache"]
    assert terms_in(["", "no terms"], glossary) == []


def test_every_shipped_hover_text_is_safe():
    for term in load_glossary().terms:
        text = hover_text(term)
        assert '"' not in text and len(text) <= HOVER_CHARS + 1, term.slug
        assert "\n" not in text, term.slug
