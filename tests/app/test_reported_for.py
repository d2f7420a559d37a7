"""Results overlays a paper's number only when it measures what the shown runs measure: the
same model, corpus, window and perplexity level; a near miss is named with what differs."""

from __future__ import annotations

import pandas as pd
import pytest

from app.results_service import reported_for
from taxonomy.catalog import load_catalog
from taxonomy.seed import seed


@pytest.fixture(scope="module")
def catalog(tmp_path_factory, full_taxonomy):
    from db.engine import make_engine
    from db.migrate import upgrade

    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('reported') / 'db.sqlite'}")
    upgrade(engine)
    seed(engine, full_taxonomy)
    return load_catalog(engine)


def _runs(model: str, seq_len: int) -> pd.DataFrame:
    return pd.DataFrame([{"model": model, "corpus": "wikitext2-raw",
                          "protocol": {"seq_len": seq_len, "corpus": "wikitext2-raw"}}])


def test_runs_on_the_papers_model_and_window_get_its_token_perplexities(catalog):
    matches = reported_for(catalog, _runs("Llama-2-7B", 2048))
    labels = set(matches.rows["label"])
    assert set(matches.rows["metric"]) == {"ppl"}
    assert any(label.startswith("GPTQ") for label in labels)
    assert any(label.startswith("AWQ") for label in labels)
    # AQLM's Llama-2-7B number was scored on 4096-token windows: named, not drawn.
    assert not any(label.startswith("AQLM") for label in labels)
    assert any(miss.startswith("AQLM") and "4096" in miss and "2048" in miss
               for miss in matches.near_misses)


def test_another_window_overlays_nothing_and_says_why(catalog):
    matches = reported_for(catalog, _runs("Llama-2-7B", 512))
    assert matches.empty
    assert matches.near_misses and all("512" in miss for miss in matches.near_misses)


def test_runs_on_a_model_no_paper_reports_get_neither(catalog):
    matches = reported_for(catalog, _runs("SmolLM2-135M-Instruct", 512))
    assert matches.empty and matches.near_misses == ()
