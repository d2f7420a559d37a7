"""Exports of the Results page: ids as integers, times as ISO text, NaN as null."""

from __future__ import annotations

import io
import json
from datetime import datetime

import pandas as pd

from app import results_export


def _frame() -> pd.DataFrame:
    return pd.DataFrame({
        "result_id": [1, 2], "job_id": [float("nan"), 1.0], "kind": ["baseline", "compressed"],
        "name": ["baseline", "rtn4 é"], "ppl": [16.0, float("nan")],
        "created_at": [datetime(2025, 3, 1, 12, 30), datetime(2025, 3, 2, 8, 0, 5)],
    })


def test_csv_writes_job_ids_as_integers_and_a_missing_job_empty():
    text = results_export.to_csv(_frame())
    lines = text.splitlines()
    assert "1.0" not in text
    assert lines[1].startswith("1,,baseline") and lines[2].startswith("2,1,compressed")
    back = pd.read_csv(io.StringIO(text))
    assert list(back["created_at"]) == ["2025-03-01T12:30:00", "2025-03-02T08:00:05"]


def test_json_is_a_list_of_records_with_null_for_nan():
    records = json.loads(results_export.to_json(_frame()))
    assert records[0]["job_id"] is None and records[1]["job_id"] == 1
    assert records[1]["ppl"] is None and records[1]["name"] == "rtn4 é"
    assert records[0]["created_at"] == "2025-03-01T12:30:00"


def test_export_frame_leaves_the_shown_frame_as_it_is():
    frame = _frame()
    exported = results_export.export_frame(frame)
    assert str(exported["job_id"].dtype) == "Int64"
    assert frame["job_id"].dtype == float
