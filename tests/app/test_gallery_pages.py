"""The gallery in the app: on a fresh install Results shows the gallery's runs, labelled
with where they were measured; a technique's page shows them under "Measured by OptAtlas"
with a link to their plot. The gallery here is built for real, on the tiny model."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.gallery.build import BuildSettings, build
from core.gallery.record import read_gallery
from core.jobs.gallery_results import seed_gallery
from db.engine import make_engine
from tests.databases import seeded_database_url

MAIN = str(Path(__file__).resolve().parents[2] / "app" / "main.py")
TINY = BuildSettings(model="tiny", measure={"eval_windows": 1, "speed": "none",
                                            "diagnostics": False, "compile": False})


@pytest.fixture(scope="module")
def gallery_db(tmp_path_factory, full_taxonomy):
    folder = tmp_path_factory.mktemp("gallery")
    out = folder / "runs.json"
    steps = build(["baseline", "rtn-4bit-g64", "rtn-3bit-g64"], out, settings=TINY)
    assert [s.outcome for s in steps] == ["measured"] * 3
    with seeded_database_url(folder, full_taxonomy, "gallery") as url:
        engine = make_engine(url)
        seed_gallery(engine, read_gallery(out))
        engine.dispose()
        yield url


@pytest.fixture
def app(gallery_db, monkeypatch):
    monkeypatch.setenv("OPTATLAS_DB_URL", gallery_db)
    return AppTest.from_file(MAIN, default_timeout=60)


def _captions(at: AppTest) -> str:
    return "\n".join(c.value for c in at.caption)


def test_a_fresh_install_shows_the_gallery_on_results(app):
    app.switch_page("routes/results.py")
    at = app.run()
    assert not at.exception
    chosen = at.multiselect(key="results-choice")
    # The gallery's baseline and both runs, named as gallery runs.
    assert len(chosen.value) == 3
    assert sum("gallery · rtn-" in chosen.format_func(v) for v in chosen.value) == 2
    assert "are OptAtlas's own, shipped with it (gallery: measured on" in _captions(at)
    assert len(at.get("plotly_chart")) >= 3


def test_a_technique_page_shows_what_optatlas_measured(app):
    app.query_params["technique"] = "rtn"
    at = app.run()
    assert not at.exception
    assert any(m.value == "##### Measured by OptAtlas" for m in at.markdown)
    table = at.dataframe[0].value
    assert set(table["run"]) == {"rtn-4bit-g64", "rtn-3bit-g64"}
    assert all("→" in cell for cell in table["perplexity"])  # against the gallery baseline
    assert "gallery: measured on" in _captions(at)
    assert "not timed" in set(table["decode tok/s (b1)"])  # simulated: speed not timed
