"""The Results page's CSV and JSON exports, as pure functions of the results frame.

A frame holding a baseline without a job has NaN in job_id, which makes pandas store the whole
column as float, so a plain to_csv writes job 1 as "1.0". Ids go out as integers (empty or null
where there is none) and times as ISO 8601 text, which every reader parses the same way."""

from __future__ import annotations

import pandas as pd

ID_COLUMNS = ("result_id", "job_id")
TIME_COLUMNS = ("created_at",)


def export_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of `frame` ready to write: ids as nullable integers, times as ISO text."""
    exported = frame.copy()
    for column in ID_COLUMNS:
        if column in exported:
            exported[column] = pd.to_numeric(exported[column], errors="coerce").astype("Int64")
    for column in TIME_COLUMNS:
        if column in exported:
            times = pd.to_datetime(exported[column], errors="coerce")
            exported[column] = [None if pd.isna(t) else t.isoformat() for t in times]
    return exported


def to_csv(frame: pd.DataFrame) -> str:
    """The frame as CSV text, one row per result; a missing value is an empty field."""
    return export_frame(frame).to_csv(index=False)


def to_json(frame: pd.DataFrame) -> str:
    """The frame as a JSON list of records, NaN and missing ids as null."""
    # double_precision=15: pandas keeps 10 digits by default, which rounds measured values.
    return export_frame(frame).to_json(orient="records", indent=2, force_ascii=False,
                                       double_precision=15)
