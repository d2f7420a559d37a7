"""The UI's door to measured results: every result as a frame, one result's details, the
taxonomy's reported numbers that match, and the headline figures of a finished job.

Torch-free, like the rest of the app."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd

from app import jobs_service
from core.engine.metrics import format_value
from core.engine.model_refs import DEFAULT_NAME
from core.jobs import results as job_results
from taxonomy.catalog import Catalog

# Reported metric names in the taxonomy that mean a metric OptAtlas measures, and the corpus
# whose protocol they were measured under: only then can a paper's number sit beside ours.
REPORTED_METRICS = {
    "wikitext-2 perplexity": ("ppl", "wikitext2"),
    "wikitext perplexity": ("ppl", "wikitext2"),
    "c4 perplexity": ("ppl", "c4"),
}
# Said wherever results on the bundled model are shown.
BUNDLED_CAVEAT = (
    f"{DEFAULT_NAME} (bundled) is dequantized from a Q4_1 GGUF file: its weights already sit "
    "on a 4-bit grid, so 4-bit results on it look better than on a float checkpoint. Use a "
    "float checkpoint for decisions."
)


def quality_protocol_hash(protocol: dict) -> str:
    """The hash of a protocol without its speed part (what quality comparability rests on)."""
    return job_results.protocol_hash({k: v for k, v in protocol.items() if k != "speed"})


def _short(name: str, job_id: int | None, gallery_run: str | None = None) -> str:
    if gallery_run:
        name = f"gallery · {gallery_run}"
    text = name if len(name) <= 28 else name[:26] + "…"
    return f"#{job_id} {text}" if job_id else text


def gallery_note(device_name: str, measured_at) -> str:
    """How a gallery run says where its numbers come from."""
    when = pd.Timestamp(measured_at).strftime("%Y-%m-%d") if measured_at is not None else "?"
    return f"gallery: measured on {device_name}, {when}"


def results_frame(job_ids: list[int] | None = None, gallery_only: bool = False) -> pd.DataFrame:
    """Every stored result, one row each: identity, labels, protocol and every metric; with
    `job_ids`, those jobs' results and the baselines only (what their headlines need); with
    `gallery_only`, the shipped gallery's runs only."""
    stored, metric_rows = job_results.results_table(jobs_service.engine(), job_ids=job_ids,
                                                    gallery_only=gallery_only)
    metrics: dict[int, dict] = {}
    for result_id, name, value, spread in metric_rows:
        figures = metrics.setdefault(result_id, {})
        figures[name] = value
        if spread is not None:
            figures[f"{name}_iqr"] = spread
    rows = []
    for result in stored:
        protocol = result.protocol or {}
        rows.append({
            "result_id": result.id, "job_id": result.job_id, "kind": result.kind,
            "name": result.name, "short": _short(result.name, result.job_id, result.gallery_run),
            # The shipped gallery's runs read against the gallery's own baseline, measured
            # on its machine; a run measured here against this server's.
            "source": "gallery" if result.gallery_run else "here",
            "gallery_run": result.gallery_run,
            "measured_how": gallery_note(result.device_name, result.created_at)
            if result.gallery_run else f"measured here on {result.device_name}",
            "model": (result.environment or {}).get("model", result.model_ref),
            "model_ref": result.model_ref, "model_key": result.model_key,
            "device": result.device, "device_name": result.device_name, "dtype": result.dtype,
            "execution": result.execution,
            # Quality is comparable when everything but the speed protocol is the same: a
            # simulated run timed no speed, and still reads against its baseline.
            "protocol_hash": quality_protocol_hash(protocol),
            "full_protocol_hash": result.protocol_hash,
            "corpus": protocol.get("corpus", ""),
            "technique": result.technique_slug,
            # Who launched it (a workshop seat, or a browser session), and the job whose
            # run it reuses (its numbers are that run's, copied).
            "owner": result.owner_session,
            "reused_from": result.reused_from,
            "recipe": " + ".join(step["recipe"] for step in result.recipe or []) or "baseline",
            "steps": result.recipe or [], "protocol": protocol,
            "created_at": result.created_at,
            **metrics.get(result.id, {}),
        })
    return pd.DataFrame(rows)


def result_details(result_id: int):
    """One result with its protocol, notes and diagnostics."""
    return job_results.get_result(jobs_service.engine(), result_id)


def _normal(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


# A reported perplexity's level names the metric it can sit beside (core.engine.metrics).
PERPLEXITY_METRIC = {"token": "ppl", "word": "word_ppl", "byte": "byte_ppl"}


@dataclass(frozen=True)
class ReportedMatches:
    """Reported numbers that measure what the shown runs measure (`rows`: metric, value,
    label), and, for those on the same model and corpus that do not, why (`near_misses`)."""

    rows: pd.DataFrame
    near_misses: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        """True when no reported number can be overlaid."""
        return self.rows.empty


def _run_windows(frame: pd.DataFrame) -> dict[tuple[str, str], set[int]]:
    # (model, corpus) -> the evaluation window lengths the shown runs used.
    windows: dict[tuple[str, str], set[int]] = {}
    protocols = frame["protocol"] if "protocol" in frame else [{}] * len(frame)
    for model, corpus, protocol in zip(frame["model"], frame["corpus"], protocols):
        seq_len = (protocol or {}).get("seq_len")
        windows.setdefault((_normal(str(model)), str(corpus)), set()).update(
            {seq_len} if seq_len else set())
    return windows


def reported_for(catalog: Catalog, frame: pd.DataFrame) -> ReportedMatches:
    """The taxonomy's reported numbers that measure what a shown run measures: the same
    model, corpus, window length and perplexity level (per token, word or byte). A number
    on the same model and corpus that differs in window or level is not overlaid: it is
    named in `near_misses` with what differs."""
    rows, near = [], []
    if frame.empty:
        return ReportedMatches(pd.DataFrame(rows, columns=["metric", "value", "label"]))
    shown = _run_windows(frame)
    for node in catalog.nodes.values():
        for reported in node.reported_results:
            mapped = REPORTED_METRICS.get(reported.metric.lower())
            if mapped is None:
                continue
            _, corpus = mapped
            windows = next((w for (model, run_corpus), w in shown.items()
                            if model == _normal(reported.model) and corpus in run_corpus), None)
            if windows is None:
                continue
            label = f"{node.name} {reported.setting} ({reported.source.key})"
            metric = PERPLEXITY_METRIC.get(reported.perplexity_level or "")
            differs = []
            if metric is None:
                differs.append("its perplexity level is not stated")
            if reported.context_tokens not in windows:
                runs = ", ".join(str(w) for w in sorted(windows)) or "unknown"
                differs.append(f"its window is {reported.context_tokens or 'not stated'} "
                               f"tokens, these runs' {runs}")
            if differs:
                near.append(f"{label}: {'; '.join(differs)}")
                continue
            rows.append({"metric": metric, "value": reported.value, "label": label})
    return ReportedMatches(pd.DataFrame(rows, columns=["metric", "value", "label"]),
                           tuple(near))


def _baseline_of(frame: pd.DataFrame, run: pd.Series) -> pd.Series | None:
    same = frame[
        (frame["kind"] == "baseline")
        & (frame["model_key"] == run["model_key"])
        & (frame["device"] == run["device"])
        & (frame["dtype"] == run["dtype"])
        & (frame["protocol_hash"] == run["protocol_hash"])
        & (frame["source"] == run["source"])
    ]
    return None if same.empty else same.iloc[-1]


def baseline_of(frame: pd.DataFrame, run: pd.Series) -> pd.Series | None:
    """The baseline `run` reads against: same model, device, dtype, protocol and source."""
    return _baseline_of(frame, run)


def value_of(row: pd.Series, metric: str) -> float | None:
    """`row`'s `metric`, None when it was not measured."""
    return _value(row, metric)


def _value(row: pd.Series, metric: str) -> float | None:
    value = row.get(metric)
    return None if value is None or pd.isna(value) else float(value)


def headline(frame: pd.DataFrame, job_id: int) -> str | None:
    """A finished job's result against its baseline in one line: perplexity change, size
    ratio, speed ratio (or why speed has none); None when the job has no result."""
    runs = frame[frame["job_id"] == job_id] if not frame.empty else frame
    if runs.empty:
        return None
    run = runs.iloc[-1]
    base = _baseline_of(frame, run)
    if base is None or run["kind"] == "baseline":
        ppl = _value(run, "ppl")
        return f"perplexity {ppl:.2f}" if ppl is not None else None
    parts = []
    ppl, ppl_base = _value(run, "ppl"), _value(base, "ppl")
    if ppl is not None and ppl_base:
        parts.append(f"perplexity {ppl_base:.2f} → {ppl:.2f} ({(ppl / ppl_base - 1) * 100:+.1f} %)")
    size, size_base = _value(run, "stored_bytes"), _value(base, "stored_bytes")
    computed = _value(run, "packed_bytes_computed") if run["execution"] == "simulated" else None
    if computed is not None and size_base:
        parts.append(f"packed size {computed / size_base:.2f}x (computed)")
    elif size is not None and size_base:
        parts.append(f"size {size / size_base:.2f}x")
    speedup = _value(run, "decode_speedup_b1")
    decode, decode_base = _value(run, "decode_tok_s_b1"), _value(base, "decode_tok_s_b1")
    if speedup is not None:
        parts.append(f"decode {speedup:.2f}x (side by side)")
    elif run["execution"] == "simulated":
        parts.append("speed: none (a simulated run computes in float)")
    elif decode is not None and decode_base:
        parts.append(f"decode b1 {decode / decode_base:.2f}x")
    return " · ".join(parts) or None


@dataclass(frozen=True)
class GalleryEvidence:
    """What the gallery measured of one technique: its runs beside the gallery's baseline,
    and the Results address that plots them."""

    rows: pd.DataFrame  # run, execution, perplexity, KL, size, decode speed
    how: str  # "gallery: measured on <CPU>, <date>"
    result_ids: list[int]


def gallery_evidence(recipe: str) -> GalleryEvidence | None:
    """The gallery's runs whose steps use `recipe`, or None when it has none."""
    frame = results_frame(gallery_only=True)
    if frame.empty or "source" not in frame:
        return None
    gallery = frame[frame["source"] == "gallery"]
    runs = gallery[gallery["recipe"].str.split(" + ", regex=False).apply(
        lambda steps: recipe in steps)]
    if runs.empty:
        return None
    baseline = _baseline_of(frame, runs.iloc[0])
    rows = []
    for _, run in runs.iterrows():
        rows.append({
            "run": run["gallery_run"], "execution": run["execution"],
            "perplexity": _against(run, baseline, "ppl"),
            "KL (nats/token)": format_value("kl", _value(run, "kl")),
            "stored size": _ratio(run, baseline, "stored_bytes"),
            "decode tok/s (b1)": _against(run, baseline, "decode_tok_s_b1"),
        })
    ids = list(runs["result_id"]) + ([int(baseline["result_id"])] if baseline is not None else [])
    return GalleryEvidence(pd.DataFrame(rows), str(runs.iloc[0]["measured_how"]),
                           [int(i) for i in ids])


def _against(run: pd.Series, baseline: pd.Series | None, metric: str) -> str:
    value = _value(run, metric)
    if value is None:
        return "not timed" if metric.startswith("decode") else "—"
    reference = _value(baseline, metric) if baseline is not None else None
    shown = format_value(metric, value)
    return f"{format_value(metric, reference)} → {shown}" if reference else shown


def _ratio(run: pd.Series, baseline: pd.Series | None, metric: str) -> str:
    value = _value(run, metric)
    reference = _value(baseline, metric) if baseline is not None else None
    if value is None or not reference:
        return "—"
    return f"{value / reference:.2f}x"
