"""Search on the real taxonomy: common spellings are alike, and hits come best first."""

from __future__ import annotations

import pytest

from db.engine import make_engine
from taxonomy.catalog import SearchFilter, load_catalog
from taxonomy.vocabulary import SEARCH_SYNONYMS, normalise_text, search_terms, searchable_text


@pytest.fixture(scope="module")
def catalog(seeded_db_url):
    engine = make_engine(seeded_db_url)
    yield load_catalog(engine)
    engine.dispose()


def _slugs(catalog, text: str) -> list[str]:
    return [n.slug for n in catalog.matches(SearchFilter(text=text))]


@pytest.mark.parametrize("spelling", ["kv cache", "KV-cache", "key-value cache", "key value cache"])
def test_kv_spellings_find_the_attention_variants(catalog, spelling):
    found = _slugs(catalog, spelling)
    assert {"pagedattention", "multi-query-attention", "grouped-query-attention"} <= set(found)


def test_kv_spellings_find_the_same_nodes(catalog):
    assert set(_slugs(catalog, "kv cache")) == set(_slugs(catalog, "key-value cache"))


@pytest.mark.parametrize(
    ("one", "other"),
    [("int4", "4-bit"), ("moe", "mixture of experts"), ("draft", "speculative"),
     ("sparsity", "pruning")],
)
def test_synonyms_find_each_other(catalog, one, other):
    assert set(_slugs(catalog, one)) == set(_slugs(catalog, other))
    assert _slugs(catalog, one)


def test_mechanism_text_is_searched(catalog):
    # "block table" appears only in PagedAttention's mechanism (and later fields).
    node = catalog.get("pagedattention")
    assert "block table" in node.mechanism.lower()
    assert "block table" not in node.summary.lower()
    assert "pagedattention" in _slugs(catalog, "block table")


def test_a_name_match_ranks_above_a_summary_match(catalog):
    found = _slugs(catalog, "kv cache")
    # Nodes named for the KV cache come before those whose text only mentions it.
    named = [s for s, n in catalog.nodes.items() if "kv cache" in normalise_text(n.name)]
    assert named and set(found[: len(named)]) == set(named)
    assert found.index("kv-cache-management") < found.index("pagedattention")


def test_ranking_orders_name_then_tags_then_summary_then_body(catalog):
    found = _slugs(catalog, "gptq")
    assert found[0] == "gptq"  # its name
    # Every other hit mentions GPTQ only in its text: the summary hits come before the rest.
    summary_hits = [s for s in found[1:] if "gptq" in catalog.get(s).summary.lower()]
    assert found[1 : 1 + len(summary_hits)] == summary_hits


def test_all_words_in_the_name_rank_above_some(catalog):
    found = _slugs(catalog, "static kv cache")
    assert found[0] == "static-kv-cache"


def test_ties_keep_tree_order(catalog):
    tree = [n.slug for n, _ in catalog.walk()]
    found = _slugs(catalog, "quantization")
    # Every quantization node names its family; among nodes that only do, tree order holds.
    family_only = [s for s in found if "quantiz" not in (catalog.get(s).name
                                                         + catalog.get(s).summary).lower()]
    assert family_only == sorted(family_only, key=tree.index)


def test_normalising_treats_hyphens_and_case_alike():
    assert normalise_text("Key-Value  CACHE_") == "key value cache"
    assert search_terms("KV-Cache") == [("kv",), ("cache",)]
    assert search_terms("key-value cache") == [("key value", "kv"), ("cache",)]
    assert searchable_text("4-bit weights").endswith("int4")


def test_synonym_table_is_written_normalised():
    for term, variants in SEARCH_SYNONYMS.items():
        for spelling in (term, *variants):
            assert normalise_text(spelling) == spelling, spelling


def test_a_huge_query_is_harmless(catalog):
    assert _slugs(catalog, "kv " * 5000) == _slugs(catalog, "kv")
    assert _slugs(catalog, "\x00<script>zzqx</script>") == []
