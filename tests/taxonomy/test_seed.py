"""Seeding is idempotent, applies edits and removals, and the catalog reads it back."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text

from db import models
from db.engine import session_factory
from taxonomy.catalog import load_catalog
from taxonomy.loader import TaxonomyError, load_taxonomy
from taxonomy.seed import seed

TABLES = (
    "techniques",
    "references",
    "citations",
    "implementations",
    "reported_results",
    "tags",
    "technique_tags",
    "taxonomy_sources",
)


@pytest.fixture
def engine(backend_engine):
    """Every test here runs on SQLite and on PostgreSQL."""
    return backend_engine


def _dump(engine) -> dict[str, list[tuple]]:
    with engine.connect() as connection:
        return {
            table: sorted(map(tuple, connection.execute(text(f'SELECT * FROM "{table}"'))))
            for table in TABLES
        }


def test_seeding_twice_changes_nothing(engine, mini_data_dir):
    first = seed(engine, load_taxonomy(mini_data_dir))
    assert (first.created, first.updated, first.deleted) == (6, 0, 0)
    before = _dump(engine)
    second = seed(engine, load_taxonomy(mini_data_dir))
    assert not second.changed
    assert second.unchanged == 6
    assert _dump(engine) == before


def test_editing_a_file_updates_its_node(engine, mini_data_dir):
    seed(engine, load_taxonomy(mini_data_dir))
    path = mini_data_dir / "pruning.yaml"
    path.write_text(path.read_text().replace("Quick pruning baseline.", "A strong baseline."))
    report = seed(engine, load_taxonomy(mini_data_dir))
    assert (report.created, report.updated, report.deleted) == (0, 1, 0)
    wanda = load_catalog(engine).get("wanda")
    assert wanda.practical["when_to_use"] == "A strong baseline."


def test_removing_a_node_and_its_reference_deletes_them(engine, mini_data_dir):
    seed(engine, load_taxonomy(mini_data_dir))
    path = mini_data_dir / "quantization.yaml"
    content = path.read_text()
    # Drop the HQQ node (the file's last) and the blog reference only it cites.
    content = content[: content.index("  - <<: *leaf")]
    start = content.index("  - key: example2023blog")
    content = content[:start] + content[content.index("nodes:") :]
    path.write_text(content)
    report = seed(engine, load_taxonomy(mini_data_dir))
    assert report.deleted == 1
    catalog = load_catalog(engine)
    assert catalog.get("hqq") is None
    with session_factory(engine)() as session:
        keys = set(session.scalars(select(models.Reference.key)))
    assert "example2023blog" not in keys


def test_catalog_reads_the_tree_back(engine, mini_data_dir):
    seed(engine, load_taxonomy(mini_data_dir))
    catalog = load_catalog(engine)
    assert catalog.roots == ("quantization", "pruning")  # the survey's order
    gptq = catalog.get("gptq")
    assert [a.slug for a in catalog.ancestors("gptq")] == ["quantization", "weight-only"]
    assert gptq.references[0].link == "https://arxiv.org/abs/2210.17323"
    assert gptq.reported_results[0].value == 8.37
    assert gptq.reported_results[0].source.key == "frantar2022gptq"
    assert set(gptq.goals) == {"memory", "latency"}
    assert [n.slug for n, _ in catalog.walk()] == [
        "quantization",
        "weight-only",
        "gptq",
        "hqq",
        "pruning",
        "wanda",
    ]


def test_full_taxonomy_seeds_idempotently(engine, full_taxonomy):
    first = seed(engine, full_taxonomy)
    assert first.created == len(full_taxonomy.nodes)
    before = _dump(engine)
    assert not seed(engine, full_taxonomy).changed
    assert _dump(engine) == before


@pytest.mark.parametrize(("old", "new", "width"), [
    ("    name: GPTQ\n", "    name: {}\n", 200),
    ("      - model: OPT-175B\n", "      - model: {}\n", 200),
    ('    venue: "ICLR 2023"\n', "    venue: {}\n", 200),
], ids=["node-name", "reported-model", "venue"])
def test_content_as_wide_as_its_column_seeds_and_wider_is_named(engine, mini_data_dir,
                                                                 old, new, width):
    # PostgreSQL refuses a value wider than its column, where SQLite stored it: the loader
    # holds content to the widths, so one character more fails on both stores alike.
    path = mini_data_dir / "quantization.yaml"
    original = path.read_text()
    assert old in original
    path.write_text(original.replace(old, new.format("W" * width), 1))
    seed(engine, load_taxonomy(mini_data_dir))
    path.write_text(original.replace(old, new.format("W" * (width + 1)), 1))
    with pytest.raises(TaxonomyError, match=f"at most {width} characters"):
        load_taxonomy(mini_data_dir)
