"""The glossary: one entry per spelling, mentions found as whole words with the longest
spelling winning, and the shipped file loads with every node it names in the taxonomy."""

from __future__ import annotations

import pytest
import yaml

from taxonomy.glossary import (
    GLOSSARY_PATH,
    GlossaryError,
    load_glossary,
    parse_glossary,
    unknown_nodes,
)

DEFINITION = "A definition long enough to pass the forty character minimum of the schema."


def _term(slug: str, term: str, aliases=(), nodes=()) -> dict:
    return {"slug": slug, "term": term, "aliases": list(aliases), "definition": DEFINITION,
            "nodes": list(nodes)}


def _glossary(*terms: dict):
    return parse_glossary({"schema_version": 1, "terms": list(terms)}, "test.yaml")


@pytest.fixture
def glossary():
    return _glossary(
        _term("kv-cache", "KV cache", ["key-value cache", "KV-cache"], nodes=["kv-cache-mgmt"]),
        _term("kv-cache-quantization", "KV cache quantization"),
        _term("quip-sharp", "QuIP#"),
        _term("int4", "INT4"),
        _term("two-four-sparsity", "2:4 sparsity", ["2:4"]),
        _term("gptq", "GPTQ"),
    )


def _found(glossary, text: str) -> list[tuple[str, str]]:
    return [(text[start:end], slug) for start, end, slug in glossary.find(text)]


# --- refusals --------------------------------------------------------------------------------

def test_a_spelling_claimed_by_two_terms_is_refused():
    with pytest.raises(GlossaryError) as error:
        _glossary(_term("kv-cache", "KV cache"), _term("paged-kv", "Paged KV", ["kv CACHE"]))
    message = str(error.value)
    assert message.startswith("test.yaml: ")
    assert "'kv-cache'" in message and "'paged-kv'" in message
    assert "is a spelling of both" in message


def test_a_term_spelt_twice_within_its_own_entry_is_accepted():
    glossary = _glossary(_term("kv-cache", "KV cache", ["kv cache", "KV caches"]))
    assert _found(glossary, "a kv CACHE") == [("kv CACHE", "kv-cache")]


def test_a_repeated_slug_is_refused():
    with pytest.raises(GlossaryError, match="terms listed twice: gptq"):
        _glossary(_term("gptq", "GPTQ"), _term("awq", "AWQ"), _term("gptq", "OPTQ"))


@pytest.mark.parametrize("change", [
    {"slug": "Not A Slug"},
    {"definition": "too short"},
    {"term": "x"},
    {"colour": "red"},
], ids=["slug", "definition", "term", "unknown-key"])
def test_a_malformed_term_is_refused_naming_the_field(change):
    entry = {**_term("gptq", "GPTQ"), **change}
    with pytest.raises(GlossaryError, match=r"test.yaml: terms\.0\."):
        _glossary(entry)


@pytest.mark.parametrize("raw", [None, {"schema_version": 1, "terms": []},
                                 {"schema_version": 2, "terms": [_term("gptq", "GPTQ")]}])
def test_an_empty_or_unversioned_glossary_is_refused(raw):
    with pytest.raises(GlossaryError):
        parse_glossary(raw)


def test_an_unreadable_glossary_file_is_a_glossary_error(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("terms: [unclosed\n")
    with pytest.raises(GlossaryError, match="broken.yaml: cannot be read"):
        load_glossary(path)
    with pytest.raises(GlossaryError, match="missing.yaml: cannot be read"):
        load_glossary(tmp_path / "missing.yaml")


# --- find ------------------------------------------------------------------------------------

def test_terms_are_listed_alphabetically_and_by_slug(glossary):
    assert [t.term for t in glossary.terms] == [
        "2:4 sparsity", "GPTQ", "INT4", "KV cache", "KV cache quantization", "QuIP#"]
    assert glossary.by_slug["kv-cache"].term == "KV cache"
    assert glossary.by_spelling["key-value cache"] == "kv-cache"


def test_find_is_case_insensitive_and_keeps_the_text_as_written(glossary):
    assert _found(glossary, "The Key-Value Cache grows; gptq shrinks it.") == [
        ("Key-Value Cache", "kv-cache"), ("gptq", "gptq")]


def test_find_reports_every_mention_left_to_right(glossary):
    text = "GPTQ to INT4, then the KV cache; GPTQ again."
    assert _found(glossary, text) == [("GPTQ", "gptq"), ("INT4", "int4"),
                                      ("KV cache", "kv-cache"), ("GPTQ", "gptq")]
    start, end, _ = glossary.find(text)[1]
    assert text[start:end] == "INT4"


def test_the_longest_spelling_wins(glossary):
    assert _found(glossary, "KV cache quantization saves memory") == [
        ("KV cache quantization", "kv-cache-quantization")]
    assert _found(glossary, "2:4 sparsity and plain 2:4") == [
        ("2:4 sparsity", "two-four-sparsity"), ("2:4", "two-four-sparsity")]


@pytest.mark.parametrize("text", [
    "AutoGPTQ and GPTQModel",     # inside a longer name
    "INT48 or xINT4",             # letters or digits on either side
    "pre-GPTQ and GPTQ-like",     # hyphenated into another word
    "12:4 and 2:45",              # digits extend the ratio
    "KV caches",                  # a plural the entry does not list
    "QuIP",                       # the term without its '#'
])
def test_no_match_inside_other_words(glossary, text):
    assert glossary.find(text) == []


@pytest.mark.parametrize(("text", "mention"), [
    ("QuIP# rounds", "QuIP#"),
    ("they use QuIP#.", "QuIP#"),
    ("(QuIP#)", "QuIP#"),
    ("QuIP#, QuaRot", "QuIP#"),
])
def test_a_term_ending_in_a_symbol_matches_at_a_word_edge(glossary, text, mention):
    assert _found(glossary, text) == [(mention, "quip-sharp")]


@pytest.mark.parametrize(("text", "mention", "slug"), [
    ("(GPTQ)", "GPTQ", "gptq"),
    ("\"INT4\"", "INT4", "int4"),
    ("GPTQ's grid", "GPTQ", "gptq"),
    ("the KV-cache.", "KV-cache", "kv-cache"),
])
def test_punctuation_is_a_word_edge(glossary, text, mention, slug):
    assert _found(glossary, text) == [(mention, slug)]


def test_an_empty_glossary_pattern_finds_nothing():
    glossary = _glossary(_term("gptq", "GPTQ"))
    assert glossary.find("") == []
    assert glossary.find("nothing to see") == []


def test_find_never_raises_on_unusual_letters(glossary):
    # 'ſ' (long s) matches 's' case-insensitively: '2:4 ſparsity' is a mention or none.
    assert glossary.find("2:4 ſparsity") in ([], [(0, 12, "two-four-sparsity")])


# --- unknown_nodes ---------------------------------------------------------------------------

def test_unknown_nodes_names_term_and_node(glossary):
    assert unknown_nodes(glossary, {"kv-cache-mgmt"}) == []
    assert unknown_nodes(glossary, {"gptq", "awq"}) == ["kv-cache -> kv-cache-mgmt"]


# --- the shipped glossary --------------------------------------------------------------------

def test_the_shipped_glossary_loads(full_taxonomy):
    glossary = load_glossary()
    assert len(glossary.terms) >= 50
    assert glossary.by_slug["kv-cache"].term == "KV cache"
    assert [slug for _, _, slug in glossary.find("a key-value cache")] == ["kv-cache"]


def test_every_node_the_shipped_glossary_names_exists(full_taxonomy):
    glossary = load_glossary()
    assert unknown_nodes(glossary, {n.slug for n in full_taxonomy.nodes}) == []
    assert all(term.nodes for term in glossary.terms)


def test_the_shipped_glossary_is_in_alphabetical_order():
    raw = yaml.safe_load(GLOSSARY_PATH.read_text(encoding="utf-8"))
    terms = [t["term"] for t in raw["terms"]]
    assert terms == sorted(terms, key=str.lower)


def test_the_shipped_glossary_links_terms_in_the_taxonomy(full_taxonomy):
    # The glossary exists to link node prose: most of its terms appear somewhere.
    glossary = load_glossary()
    prose = " ".join(f"{n.takeaway} {n.summary} {n.mechanism or ''}" for n in full_taxonomy.nodes)
    found = {slug for _, _, slug in glossary.find(prose)}
    assert len(found) >= len(glossary.terms) * 3 // 4
    assert {"kv-cache", "perplexity", "round-to-nearest"} <= found
