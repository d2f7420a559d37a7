"""Which runs Results shows: job numbers in the URL, the job just followed, filters that keep
the selection, and a URL that says job numbers where it can."""

from __future__ import annotations

import pandas as pd

from app import results_selection as selection


def _frame() -> pd.DataFrame:
    rows = [  # result_id, job_id, kind, model_key, protocol
        (1, None, "baseline", "default:default", "p"),
        (2, 1, "compressed", "default:default", "p"),
        (3, 2, "compressed", "default:default", "p"),
        (4, None, "baseline", "tiny:tiny", "q"),
        (5, 3, "compressed", "tiny:tiny", "q"),
    ]
    frame = pd.DataFrame(rows, columns=["result_id", "job_id", "kind", "model_key",
                                        "protocol_hash"])
    frame["device"], frame["dtype"] = "cpu", "float32"
    return frame


def test_job_numbers_bring_their_baseline_and_result_ids_are_taken_as_given():
    frame = _frame()
    assert selection.initial_selection(frame, jobs=[2], runs=[], followed=None) == [1, 3]
    assert selection.initial_selection(frame, jobs=[], runs=[3], followed=None) == [3]
    assert selection.initial_selection(frame, jobs=[99], runs=[], followed=None) == [4, 5]


def test_the_job_just_followed_is_the_default_not_the_newest_model():
    frame = _frame()
    assert selection.initial_selection(frame, jobs=[], runs=[], followed=1) == [1, 2]
    assert selection.initial_selection(frame, jobs=[], runs=[], followed=None) == [4, 5]


def test_a_narrower_filter_keeps_what_it_can_of_the_selection():
    frame = _frame()
    pool = frame[frame["model_key"] == "default:default"]
    assert selection.refilter(frame, [1, 2, 5], pool) == [1, 2]
    assert selection.refilter(frame, [5], pool) == [1, 2, 3]  # nothing left: its newest group


def test_the_url_says_job_numbers_and_result_ids_only_for_what_they_cannot():
    frame = _frame()
    assert selection.url_params(frame, [1, 2, 3]) == {"jobs": "1,2"}
    assert selection.url_params(frame, [2, 3]) == {"jobs": "1,2"}
    assert selection.url_params(frame, [1]) == {"runs": "1"}
    assert selection.url_params(frame, [1, 4, 2]) == {"jobs": "1", "runs": "1,4"}
    assert selection.describe(frame, [1, 2, 3]) == "jobs #1, #2 and 1 baseline (result 1)"


def test_gallery_runs_are_described_as_gallery_runs_not_baselines():
    frame = pd.concat([_frame(), pd.DataFrame(
        [{"result_id": 6, "job_id": None, "kind": "compressed", "model_key": "default:default",
          "protocol_hash": "p", "device": "cpu", "dtype": "float32"}])], ignore_index=True)
    assert selection.describe(frame, [1, 6]) == \
        "1 gallery run (result 6) and 1 baseline (result 1)"


def test_hostile_url_values_are_ignored():
    assert selection.parse_ids("1,x,<script>,2," + "9" * 50) == [1, 2]
