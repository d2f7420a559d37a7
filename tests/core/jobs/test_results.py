"""Results in the database: a baseline stored once and found again by its key, whatever
model it measured, on SQLite and on PostgreSQL alike."""

from __future__ import annotations

import pytest

from core.engine.model_refs import MAX_MODEL_REF_CHARS, parse_model_ref
from core.engine.results import Measurement
from core.jobs import results
from db.job_models import Result


@pytest.fixture
def engine(backend_engine):
    """Every test here runs on SQLite and on PostgreSQL."""
    return backend_engine


def _measured(model_key: str) -> Measurement:
    return Measurement(name="baseline", model="m", model_key=model_key, device="cpu",
                       device_name="cpu", dtype="float32", execution="real",
                       metrics={"ppl": 12.5}, protocol={"eval_windows": 1})


# The longest references a user may name: their keys add a kind prefix and a revision.
LONGEST_REFS = ["o" * 96 + "/" + "n" * 96 + "@" + "r" * (MAX_MODEL_REF_CHARS - 194),
                "o" * 96 + "/" + "n" * 96, "tiny:" + "7" * (MAX_MODEL_REF_CHARS - 5)]


@pytest.mark.parametrize("ref", LONGEST_REFS)
def test_a_baseline_of_the_longest_model_reference_is_stored_and_found(engine, ref):
    # results.model_key held 200 characters: PostgreSQL refused such a key after the whole
    # measurement ran, where SQLite stored it.
    assert len(ref) <= MAX_MODEL_REF_CHARS
    key = parse_model_ref(ref).key
    assert len(key) <= Result.__table__.c.model_key.type.length
    results.save_baseline(engine, _measured(key), key="k" * 64, model_ref=ref)
    found = results.find_baseline(engine, "k" * 64)
    assert found is not None and found.model_key == key
