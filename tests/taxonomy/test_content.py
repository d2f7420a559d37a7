"""The real taxonomy: rich enough, well-formed references, and a tree with no loose ends."""

from __future__ import annotations

import re
from collections import Counter

from taxonomy.schema import LEAF_REQUIRED_FIELDS

FAMILIES = {"quantization", "pruning", "distillation", "architecture"}


def _leaves(taxonomy):
    return [n for n in taxonomy.nodes if not taxonomy.children(n.slug)]


def test_the_four_families_of_the_survey_are_the_roots(full_taxonomy):
    assert {n.slug for n in full_taxonomy.children(None)} == FAMILIES


def test_the_atlas_is_rich_enough(full_taxonomy):
    results = sum(len(n.reported_results) for n in full_taxonomy.nodes)
    assert len(full_taxonomy.nodes) >= 50
    assert len(full_taxonomy.references) >= 60
    assert results >= 30


def test_every_family_has_methods(full_taxonomy):
    per_family = Counter(full_taxonomy.family_of[n.slug] for n in _leaves(full_taxonomy))
    assert set(per_family) == FAMILIES
    assert min(per_family.values()) >= 5


def test_every_leaf_fills_every_field(full_taxonomy):
    for node in _leaves(full_taxonomy):
        missing = [f for f in LEAF_REQUIRED_FIELDS if not getattr(node, f)]
        assert not missing, f"{node.slug} lacks {missing}"


def test_every_node_is_reachable_from_a_family(full_taxonomy):
    by_slug = {n.slug: n for n in full_taxonomy.nodes}
    for node in full_taxonomy.nodes:
        current, steps = node, 0
        while current.parent is not None:
            current, steps = by_slug[current.parent], steps + 1
            assert steps < 10, f"{node.slug} has an implausibly deep or cyclic chain"
        assert current.slug in FAMILIES, f"{node.slug} hangs under {current.slug}"


def test_arxiv_ids_are_unique_and_well_formed(full_taxonomy):
    ids = [r.arxiv for r in full_taxonomy.references.values() if r.arxiv]
    assert len(ids) == len(set(ids))
    for ref in full_taxonomy.references.values():
        if ref.arxiv:
            assert re.fullmatch(r"\d{4}\.\d{4,5}", ref.arxiv)
            assert 2000 + int(ref.arxiv[:2]) == ref.year, ref.key


def test_references_are_complete_and_locatable(full_taxonomy):
    for ref in full_taxonomy.references.values():
        assert ref.authors and all(a.strip() for a in ref.authors), ref.key
        assert ref.link.startswith("https://"), ref.key
        # The key names the first author and the year, so a mismatch betrays a mix-up.
        assert str(ref.year) in ref.key, ref.key


def test_every_reference_is_cited_and_every_citation_resolves(full_taxonomy):
    cited = {key for node in full_taxonomy.nodes for key in node.references}
    assert cited == set(full_taxonomy.references)


def test_titles_are_unique(full_taxonomy):
    titles = Counter(r.title.lower() for r in full_taxonomy.references.values())
    assert [t for t, count in titles.items() if count > 1] == []


def test_reported_results_name_model_metric_and_protocol(full_taxonomy):
    for node in full_taxonomy.nodes:
        for result in node.reported_results:
            assert result.model and result.metric and result.protocol, node.slug
            assert result.source in full_taxonomy.references


def test_implementations_link_to_web_pages(full_taxonomy):
    for node in full_taxonomy.nodes:
        for impl in node.implementations:
            assert impl.url.startswith("https://"), f"{node.slug}: {impl.url}"


def test_every_family_has_a_runnable_method(full_taxonomy):
    runnable = {
        full_taxonomy.family_of[n.slug] for n in _leaves(full_taxonomy) if n.runnable.recipe
    }
    assert runnable == FAMILIES
