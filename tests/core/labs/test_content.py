"""The labs' content files: every shipped lab loads, names nodes the taxonomy holds and
gallery runs the plan measures, and its runs are jobs OptAtlas accepts; a broken file says
which key to fix."""

from __future__ import annotations

import pytest

from core.gallery.plan import planned_runs
from core.jobs.spec import validate_spec
from core.labs.content import LabError, load_lab, load_labs, unknown_references


def test_the_shipped_labs_load_and_reference_what_exists(full_taxonomy):
    labs = load_labs()
    assert len(labs) >= 5 and [lab.order for lab in labs] == sorted(lab.order for lab in labs)
    slugs = {node.slug for node in full_taxonomy.nodes}
    runs = {run.name for run in planned_runs()}
    for lab in labs:
        assert unknown_references(lab, slugs, runs) == [], lab.slug
        assert len(lab.reading.split()) <= 320, f"{lab.slug}: reading is over two minutes"
        assert lab.explanation and lab.takeaway
        for run in (lab.run, lab.try_next):
            validate_spec({**run.spec(), "device": "cpu"})


GOOD = """---
slug: demo
order: 9
title: "A demo lab"
question: "What does a demo show?"
nodes: [rtn]
prediction: {prompt: "What happens?", choices: [a, b]}
run: {title: "RTN", steps: [{recipe: rtn}]}
takeaway: "Demos show things."
try_next: {title: "RTN 3", steps: [{recipe: rtn, settings: {bits: 3}}]}
---
## Reading
Text.
## What happened and why
More text.
"""


@pytest.mark.parametrize(("change", "says"), [
    (("recipe: rtn}]}\ntakeaway", "recipe: rnt}]}\ntakeaway"), "unknown recipe 'rnt'"),
    (("bits: 3", "bits: 1"), "bits"),
    (("order: 9", "order: 0"), "order"),
    (("## Reading", "## Read"), "## Reading"),
    (("---\nslug", "slug"), "front matter"),
    (("takeaway:", "take_away:"), "take_away"),
])
def test_a_broken_lab_file_names_what_to_fix(tmp_path, change, says):
    path = tmp_path / "demo.md"
    path.write_text(GOOD)
    assert load_lab(path).slug == "demo"
    path.write_text(GOOD.replace(*change, 1))
    with pytest.raises(LabError, match="demo.md") as caught:
        load_lab(path)
    assert says in str(caught.value)
