"""The loader accepts valid content and names the file and field of every error."""

from __future__ import annotations

import re

import pytest

from taxonomy.loader import TaxonomyError, load_taxonomy


def _edit(path, old: str, new: str, count: int = 1) -> None:
    text = path.read_text()
    assert old in text, f"fixture no longer contains {old!r}"
    path.write_text(text.replace(old, new, count))


def test_valid_content_loads(mini_data_dir):
    taxonomy = load_taxonomy(mini_data_dir)
    assert [n.slug for n in taxonomy.children(None)] == ["quantization", "pruning"]
    assert taxonomy.family_of["gptq"] == "quantization"
    assert set(taxonomy.references) == {"frantar2022gptq", "example2023blog", "sun2023simple"}


def test_schema_error_names_file_node_and_field(mini_data_dir):
    _edit(
        mini_data_dir / "quantization.yaml", "      memory: About four", "      memry: About four"
    )
    with pytest.raises(TaxonomyError) as error:
        load_taxonomy(mini_data_dir)
    message = str(error.value)
    assert "quantization.yaml" in message
    assert "nodes[2] (gptq).saves.memry" in message
    assert "nodes[2] (gptq).saves.memory" in message  # the field it then lacks


def test_unknown_key_is_an_error(mini_data_dir):
    _edit(mini_data_dir / "pruning.yaml", "    kind: method", "    kind: method\n    colour: red")
    with pytest.raises(TaxonomyError, match=r"pruning.yaml: nodes\[1\] \(wanda\)\.colour"):
        load_taxonomy(mini_data_dir)


def test_yaml_syntax_error_names_the_file(mini_data_dir):
    (mini_data_dir / "pruning.yaml").write_text("nodes: [unclosed\n")
    with pytest.raises(TaxonomyError, match="pruning.yaml: not valid YAML"):
        load_taxonomy(mini_data_dir)


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('arxiv: "2210.17323"', 'arxiv: "2213.17323"', "names month 13"),
        ('arxiv: "2210.17323"', 'arxiv: "2210.1732"', "five digits"),
        ('arxiv: "2210.17323"', 'arxiv: "arXiv:2210.17323"', "not of the form"),
        ("    year: 2022\n", "    year: 2023\n", "disagrees with arXiv id 2210.17323"),
    ],
)
def test_bad_arxiv_ids_are_rejected(mini_data_dir, old, new, message):
    _edit(mini_data_dir / "quantization.yaml", old, new)
    with pytest.raises(TaxonomyError, match=re.escape(message)):
        load_taxonomy(mini_data_dir)


def test_unknown_parent_is_an_error(mini_data_dir):
    _edit(mini_data_dir / "quantization.yaml", "parent: weight-only\n", "parent: nowhere\n")
    with pytest.raises(TaxonomyError, match="parent 'nowhere' does not exist"):
        load_taxonomy(mini_data_dir)


def test_parent_cycle_is_an_error(mini_data_dir):
    _edit(mini_data_dir / "quantization.yaml", "    parent: quantization\n", "    parent: gptq\n")
    with pytest.raises(TaxonomyError):
        load_taxonomy(mini_data_dir)


def test_leaf_must_fill_every_field(mini_data_dir):
    path = mini_data_dir / "pruning.yaml"
    text = path.read_text()
    path.write_text(re.sub(r"    challenges: \[.*\]\n", "", text))
    with pytest.raises(TaxonomyError, match="a leaf must fill challenges"):
        load_taxonomy(mini_data_dir)


def test_reported_result_source_must_be_cited(mini_data_dir):
    _edit(
        mini_data_dir / "quantization.yaml",
        "        source: frantar2022gptq",
        "        source: sun2023simple",
    )
    with pytest.raises(TaxonomyError, match="source 'sun2023simple' is not among"):
        load_taxonomy(mini_data_dir)


def test_conflicting_reference_entries_are_an_error(mini_data_dir):
    path = mini_data_dir / "pruning.yaml"
    _edit(
        path,
        "references:\n",
        "references:\n"
        "  - key: frantar2022gptq\n"
        '    title: "GPTQ"\n'
        '    authors: ["Elias Frantar"]\n'
        "    year: 2022\n"
        '    venue: "ICLR 2023"\n'
        '    arxiv: "2210.17323"\n',
    )
    with pytest.raises(TaxonomyError, match="differs from its entry"):
        load_taxonomy(mini_data_dir)


def test_duplicate_arxiv_id_under_two_keys_is_an_error(mini_data_dir):
    _edit(mini_data_dir / "pruning.yaml", 'arxiv: "2306.11695"', 'arxiv: "2210.17323"')
    _edit(mini_data_dir / "pruning.yaml", "year: 2023", "year: 2022")
    with pytest.raises(TaxonomyError, match="repeats arXiv id 2210.17323"):
        load_taxonomy(mini_data_dir)


def test_unknown_recipe_is_an_error(mini_data_dir):
    _edit(mini_data_dir / "pruning.yaml", "{recipe: wanda}", "{recipe: wandaa}")
    with pytest.raises(TaxonomyError, match="unknown recipe 'wandaa'"):
        load_taxonomy(mini_data_dir)


def test_runnable_needs_exactly_one_of_recipe_or_reason(mini_data_dir):
    _edit(mini_data_dir / "pruning.yaml", "{recipe: wanda}", "{recipe: wanda, reason: both}")
    with pytest.raises(TaxonomyError, match="exactly one"):
        load_taxonomy(mini_data_dir)


def test_unknown_tag_value_is_an_error(mini_data_dir):
    _edit(mini_data_dir / "pruning.yaml", "      goals: [memory]", "      goals: [speed]")
    with pytest.raises(
        TaxonomyError, match=r"pruning.yaml: nodes\[1\] \(wanda\)\.tags\.goals\[0\]"
    ):
        load_taxonomy(mini_data_dir)
