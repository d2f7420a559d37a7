"""The Compare page puts two to four techniques side by side, field by field."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest


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
    assert not at.table


def _names(taxonomy, *slugs):
    by_slug = {n.slug: n.name for n in taxonomy.nodes}
    return [by_slug[s] for s in slugs]


def test_chosen_techniques_become_columns(app, full_taxonomy):
    at = app.run()
    at.multiselect(key="compare_choice").set_value(["gptq", "awq", "wanda"]).run()
    assert not at.exception
    frame = at.table[0].value
    assert list(frame.columns) == _names(full_taxonomy, "gptq", "awq", "wanda")
    for field in ("Summary", "How it works", "Memory", "Needs calibration data", "References"):
        assert field in frame.index
    assert at.query_params["techniques"] == "gptq,awq,wanda"


def test_url_preselects_techniques(app, full_taxonomy):
    app.query_params["techniques"] = "wanda,sparsegpt,not-a-node"
    at = app.run()
    frame = at.table[0].value
    assert list(frame.columns) == _names(full_taxonomy, "wanda", "sparsegpt")
