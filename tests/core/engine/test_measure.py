"""The measurement suite end to end on a tiny model, and its JSON result."""

from __future__ import annotations

import json

import pytest
import torch

from core.engine.measure import measure_model
from core.engine.measure_config import MeasureConfig
from core.engine.metrics import METRICS
from core.engine.results import Measurement

SMALL = MeasureConfig(
    seq_len=64, eval_windows=2, prefill_tokens=64, decode_prompt_tokens=8, decode_new_tokens=4
)


def test_every_figure_is_measured_and_labelled(tiny):
    result = measure_model(tiny, SMALL)
    expected = {"ppl", "word_ppl", "byte_ppl", "kl", "top1_agreement", "prefill_ms", "ttft_ms",
                "decode_tok_s_b1", "decode_tok_s_b8", "peak_mem_bytes", "stored_bytes",
                "bandwidth_gb_s", "roofline_decode_tok_s", "roofline_ratio", "eval_tok_s"}
    assert expected <= {name for name, value in result.metrics.items() if value is not None}
    assert result.execution == "real"
    assert result.metrics["kl"] == pytest.approx(0.0, abs=1e-6)
    assert result.metrics["top1_agreement"] == 1.0
    assert result.metrics["roofline_ratio"] == pytest.approx(
        result.metrics["decode_tok_s_b1"] / result.metrics["roofline_decode_tok_s"]
    )
    assert result.protocol["seq_len"] == 64 and result.protocol["windows"] == 2
    for name in ("prefill_ms", "decode_tok_s_b1", "decode_tok_s_b8"):
        assert name in result.spread
    # The protocol says what each perplexity is per, and how much text was scored.
    levels = result.protocol["perplexity"]
    assert "token" in levels["ppl"] and "word" in levels["word_ppl"]
    assert "byte" in levels["byte_ppl"]
    assert levels["scored_bytes"] > levels["scored_words"] > 0


def test_the_perplexity_note_leaves_a_results_protocol_hash_as_it_was(tiny):
    from core.jobs.results import protocol_hash

    protocol = measure_model(tiny, SMALL).protocol
    before_the_note = {k: v for k, v in protocol.items() if k != "perplexity"}
    assert protocol_hash(protocol) == protocol_hash(before_the_note)
    assert protocol_hash(protocol) != protocol_hash({**before_the_note, "seq_len": 32})


def test_the_second_run_reuses_the_cached_baseline(tiny):
    first = measure_model(tiny, SMALL.__class__(**{**SMALL.to_dict(), "measure_speed": False}))
    second = measure_model(tiny, SMALL.__class__(**{**SMALL.to_dict(), "measure_speed": False}))
    assert "computed now and cached" in first.notes[0]
    assert "cached baseline" in second.notes[0]
    assert second.metrics["kl"] == pytest.approx(0.0, abs=1e-6)


def test_results_round_trip_through_json(tiny):
    result = measure_model(tiny, SMALL)
    again = Measurement.from_json(result.to_json())
    assert again == result
    row = json.loads(json.dumps(result.row()))
    assert row["name"] == "baseline" and row["execution"] == "real" and "protocol" in row
    assert set(row) - {"name", "execution", "protocol"} <= set(METRICS)


def test_unknown_metric_names_are_refused():
    with pytest.raises(ValueError, match="unknown metric names"):
        Measurement(name="x", model="m", model_key="k", device="cpu", device_name="cpu",
                    dtype="float32", execution="real", metrics={"speed": 1.0})


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"seq_len": 0}, "seq_len must be at least 1"),
        ({"stride": 1000}, "stride must lie in"),
        ({"repeats": 2}, "at least 5 repeats"),
    ],
)
def test_invalid_settings_are_refused_with_a_reason(changes, message):
    with pytest.raises(ValueError, match=message):
        MeasureConfig(**changes)


def test_windows_longer_than_the_model_allows_are_refused(tiny):
    with pytest.raises(ValueError, match="do not fit this model's 1024 positions"):
        measure_model(tiny, MeasureConfig(seq_len=2048, prefill_tokens=2048))
    with pytest.raises(ValueError, match=r"kl_top_k \(1000\) exceeds the vocabulary \(257\)"):
        measure_model(tiny, MeasureConfig(kl_top_k=1000, measure_speed=False))


def test_a_model_changed_in_place_never_reuses_the_original_baseline(device):
    from core.engine.models import load_model

    quality_only = MeasureConfig(seq_len=64, eval_windows=2, measure_speed=False)
    changed = load_model("tiny", device=device)
    with torch.no_grad():
        changed.model.model.layers[0].mlp.down_proj.weight.zero_()
    measure_model(changed, quality_only)
    pristine = measure_model(load_model("tiny", device=device), quality_only)
    assert "computed now" in pristine.notes[0]
    assert pristine.metrics["kl"] == pytest.approx(0.0, abs=1e-6)
    assert pristine.metrics["top1_agreement"] == 1.0


def test_speed_settings_are_recorded_and_prefill_stays_at_512_tokens(tiny):
    result = measure_model(tiny, MeasureConfig(seq_len=64, eval_windows=2, decode_new_tokens=4))
    speed = result.protocol["speed"]
    assert speed["prefill_tokens"] == 512 and speed["repeats"] == 5
    assert speed["decode_batches"] == [1, 8]
