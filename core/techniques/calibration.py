"""Calibration batches from the calibration split (disjoint from evaluation)."""

from __future__ import annotations

from core.engine.data import Corpus, tokenizer_label
from core.techniques.context import CalibrationData


def calibration_data(
    tokenizer, corpus: Corpus, *, samples: int = 32, seq_len: int = 512
) -> CalibrationData:
    """`samples` non-overlapping windows of `seq_len` tokens from the calibration split."""
    text = corpus.split("calibration")
    ids = tokenizer(text, return_tensors="pt", add_special_tokens=False).input_ids[0]
    available = len(ids) // seq_len
    if available < 1:
        raise ValueError(f"the calibration split has {len(ids)} tokens, fewer than {seq_len}")
    count = min(samples, available)
    windows = ids[: count * seq_len].reshape(count, seq_len)
    return CalibrationData(
        windows,
        protocol={
            "corpus": corpus.id,
            "split": "calibration",
            "samples": count,
            "seq_len": seq_len,
            "tokenizer": tokenizer_label(tokenizer),
        },
    )
