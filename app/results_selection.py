"""Which runs the Results page shows: read from the URL (job numbers or result ids), else the
job the user followed last, else the newest comparable group; kept when filters narrow the
pool; and written back to the URL in job numbers. Pure functions of the results frame."""

from __future__ import annotations

import pandas as pd

RUNS_PARAM = "runs"  # result ids (a baseline has no job number)
JOBS_PARAM = "jobs"  # job numbers, as the Jobs page shows them


def parse_ids(raw: str | None) -> list[int]:
    """The numbers in a comma-separated URL value; anything else is ignored."""
    return [int(part) for part in (raw or "").split(",")[:200]
            if part.strip().isdigit() and len(part.strip()) < 10]


def _group(frame: pd.DataFrame) -> list[tuple]:
    # The source too: the gallery's runs are a group of their own, read against the
    # gallery's baseline (frames without the column hold runs measured here only).
    source = frame["source"] if "source" in frame else ["here"] * len(frame)
    return list(zip(frame["model_key"], frame["device"], frame["dtype"], frame["protocol_hash"],
                    source))


def baselines_of(frame: pd.DataFrame, result_ids: list[int]) -> list[int]:
    """The baselines the given runs read against (same model, device, dtype, protocol)."""
    picked = frame[frame["result_id"].isin(result_ids)]
    groups = set(_group(picked))
    baselines = frame[(frame["kind"] == "baseline")
                      & pd.Series([g in groups for g in _group(frame)], index=frame.index)]
    return list(baselines["result_id"])


def _with_baselines(frame: pd.DataFrame, result_ids: list[int]) -> list[int]:
    ids = list(dict.fromkeys(result_ids + baselines_of(frame, result_ids)))
    return [i for i in frame["result_id"] if i in set(ids)]


MAX_FIRST_RUNS = 40


def newest_group(frame: pd.DataFrame) -> list[int]:
    """Every run of the newest result's model and protocol (what a fresh visit shows)."""
    if frame.empty:
        return []
    newest = _group(frame.tail(1))[0]
    ids = [rid for rid, group in zip(frame["result_id"], _group(frame)) if group == newest]
    if len(ids) <= MAX_FIRST_RUNS:
        return ids
    # A room's day puts a thousand runs in one group: a first view shows the newest of
    # them (with their baselines); the Runs box adds any other.
    kinds = dict(zip(frame["result_id"], frame["kind"]))
    runs = [rid for rid in ids if kinds[rid] != "baseline"][-MAX_FIRST_RUNS:]
    kept = set(runs) | {rid for rid in ids if kinds[rid] == "baseline"}
    return [rid for rid in ids if rid in kept]


def initial_selection(frame: pd.DataFrame, *, jobs: list[int], runs: list[int],
                      followed: int | None) -> list[int]:
    """Result ids to show first: the URL's jobs (with their baselines unless the URL names
    its runs) and runs; else the followed job with its baseline; else the newest group."""
    known = set(frame["result_id"])
    from_jobs = list(frame[frame["job_id"].isin(jobs)]["result_id"]) if jobs else []
    named = [i for i in runs if i in known]
    if from_jobs or named:
        chosen = from_jobs + named
        return _with_baselines(frame, chosen) if not runs else \
            [i for i in frame["result_id"] if i in set(chosen)]
    if followed is not None:
        mine = list(frame[frame["job_id"] == followed]["result_id"])
        if mine:
            return with_gallery_peers(frame, _with_baselines(frame, mine))
    return with_gallery_peers(frame, newest_group(frame))


def with_gallery_peers(frame: pd.DataFrame, chosen: list[int]) -> list[int]:
    """`chosen` and, beside the runs measured here, the gallery's runs of the same techniques
    on the same model, dtype and protocol (with the gallery's baseline): what OptAtlas
    measured itself, next to the visitor's own numbers."""
    if "source" not in frame or frame.empty:
        return chosen
    picked = frame[frame["result_id"].isin(chosen) & (frame["source"] == "here")
                   & (frame["kind"] != "baseline")]
    if picked.empty:
        return chosen
    wanted = set(zip(picked["model_key"], picked["dtype"], picked["protocol_hash"]))
    techniques = set(picked["recipe"])
    gallery = frame[frame["source"] == "gallery"]
    same = pd.Series([key in wanted for key in zip(gallery["model_key"], gallery["dtype"],
                                                   gallery["protocol_hash"])],
                     index=gallery.index, dtype=bool)
    peers = gallery[same & (gallery["recipe"].isin(techniques) | (gallery["kind"] == "baseline"))]
    if (peers["kind"] != "baseline").sum() == 0:
        return chosen
    ids = set(chosen) | set(peers["result_id"])
    return [i for i in frame["result_id"] if i in ids]


def refilter(frame: pd.DataFrame, chosen: list[int], pool: pd.DataFrame) -> list[int]:
    """The selection once filters narrowed the pool: what stays of it, or (when nothing
    does) the newest comparable group of the pool."""
    kept = [i for i in chosen if i in set(pool["result_id"])]
    return kept or newest_group(pool)


def url_params(frame: pd.DataFrame, chosen: list[int]) -> dict[str, str]:
    """The URL that reopens `chosen`: job numbers, plus result ids only for what job numbers
    cannot say (baselines other than the ones the jobs bring along)."""
    picked = frame[frame["result_id"].isin(chosen)]
    jobs = [int(j) for j in picked["job_id"].dropna()]
    without_job = [int(r) for r in picked[picked["job_id"].isna()]["result_id"]]
    params = {}
    if jobs:
        params[JOBS_PARAM] = ",".join(map(str, jobs))
    implied = set(baselines_of(frame, list(picked[picked["job_id"].notna()]["result_id"])))
    if without_job and (not jobs or set(without_job) != implied):
        params[RUNS_PARAM] = ",".join(map(str, without_job))
    return params


def describe(frame: pd.DataFrame, chosen: list[int]) -> str:
    """The selection in words: job numbers, gallery runs and baselines by their result ids."""
    picked = frame[frame["result_id"].isin(chosen)]
    jobs = [f"#{int(j)}" for j in picked["job_id"].dropna()]
    unjobbed = picked[picked["job_id"].isna()]
    is_baseline = unjobbed["kind"] == "baseline"
    parts = []
    if jobs:
        parts.append(f"job{'s' if len(jobs) > 1 else ''} {', '.join(jobs)}")
    for rows, what in ((unjobbed[~is_baseline], "gallery run"),
                       (unjobbed[is_baseline], "baseline")):
        ids = [int(r) for r in rows["result_id"]]
        if ids:
            parts.append(f"{len(ids)} {what}{'s' if len(ids) > 1 else ''} "
                         f"(result {', '.join(map(str, ids))})")
    return " and ".join(parts) or "nothing"
