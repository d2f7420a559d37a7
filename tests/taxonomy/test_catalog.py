"""Search and filters find what a user asks for, and the tree keeps their context."""

from __future__ import annotations

import pytest

from taxonomy.catalog import SearchFilter, load_catalog
from taxonomy.loader import load_taxonomy
from taxonomy.seed import seed


@pytest.fixture
def catalog(engine, mini_data_dir):
    seed(engine, load_taxonomy(mini_data_dir))
    return load_catalog(engine)


def _slugs(catalog, **kwargs) -> list[str]:
    return [n.slug for n in catalog.matches(SearchFilter(**kwargs))]


def test_text_search_matches_names_summaries_and_tags(catalog):
    assert _slugs(catalog, text="gptq") == ["gptq"]
    assert _slugs(catalog, text="HALF-QUADRATIC") == ["hqq"]
    assert "wanda" in _slugs(catalog, text="activation norm")
    assert _slugs(catalog, text="no such technique") == []


def test_every_word_must_match(catalog):
    assert _slugs(catalog, text="weight error") == ["gptq"]


def test_facets_filter_methods(catalog):
    assert _slugs(catalog, hardware=frozenset({"cpu"})) == ["hqq", "wanda"]
    assert _slugs(catalog, goals=frozenset({"latency"})) == ["gptq"]
    assert _slugs(catalog, needs_calibration=False) == ["hqq"]
    assert _slugs(catalog, needs_training=True) == []
    assert _slugs(catalog, needs_calibration=True, hardware=frozenset({"cpu"})) == ["wanda"]


def test_visible_nodes_include_ancestors_of_matches(catalog):
    assert catalog.visible_slugs(SearchFilter(text="gptq")) == {
        "quantization",
        "weight-only",
        "gptq",
    }
    assert catalog.visible_slugs(SearchFilter()) == set(catalog.nodes)
