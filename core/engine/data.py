"""Evaluation and calibration text, and the protocol record that travels with every number.

The built-in corpus needs no download: CPython's own documentation topics
(`pydoc_data.topics`, in every standard CPython install), keys sorted, texts joined.
Calibration and evaluation slices are disjoint halves of the text, never overlapping.
"""

from __future__ import annotations

import hashlib
import os
import platform
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from core.engine.metrics import PERPLEXITY_UNITS

BUILTIN = "pydoc"
# The first quarter of the text calibrates; the rest evaluates. Cut at a paragraph break.
CALIBRATION_FRACTION = 0.25
SPLITS = ("calibration", "evaluation")


class CorpusUnavailableError(LookupError):
    """A named corpus cannot be had here (no `datasets` package, or no copy and no network)."""


@dataclass(frozen=True)
class Corpus:
    """A text and where it came from.

    With a `calibration_text` (a dataset's train split) the whole `text` evaluates; without
    one, the first quarter of `text` calibrates and the rest evaluates.
    """

    id: str
    text: str
    calibration_text: str | None = None

    @property
    def sha256(self) -> str:
        """The hash of the whole text."""
        return _sha256(self.text)

    def split(self, name: str) -> str:
        """The calibration or evaluation text (disjoint by construction)."""
        if name not in SPLITS:
            raise ValueError(f"split {name!r} is not one of {', '.join(SPLITS)}")
        if self.calibration_text is not None:
            return self.calibration_text if name == "calibration" else self.text
        cut = self.text.find("\n\n", int(len(self.text) * CALIBRATION_FRACTION))
        cut = cut if cut > 0 else int(len(self.text) * CALIBRATION_FRACTION)
        return self.text[:cut] if name == "calibration" else self.text[cut:]


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def builtin_corpus() -> Corpus:
    """CPython's documentation topics, keys sorted, texts joined by blank lines."""
    from pydoc_data.topics import topics

    text = "\n\n".join(topics[key] for key in sorted(topics))
    return Corpus(id=f"cpython-pydoc-topics-{platform.python_version()}", text=text)


def _hf_corpus(name: str) -> Corpus:
    try:
        import datasets
    except ImportError:
        raise CorpusUnavailableError(
            f"corpus {name!r} needs the 'datasets' package (pip install datasets); "
            f"the built-in corpus '{BUILTIN}' works offline"
        ) from None
    # Published perplexities evaluate on the whole test split; calibration comes from train.
    sources = {
        "wikitext2": ("wikitext", "wikitext-2-raw-v1", "test", "train[:2000]"),
        "c4": ("allenai/c4", "en", "validation[:2000]", "validation[2000:3000]"),
    }
    path, config, evaluation, calibration = sources[name]
    try:
        texts = {
            split: "\n\n".join(datasets.load_dataset(path, config, split=split)["text"])
            for split in (evaluation, calibration)
        }
    except Exception as error:  # datasets raises many kinds; all mean "not available here"
        raise CorpusUnavailableError(
            f"corpus {name!r} is not in the local datasets cache and could not be downloaded "
            f"({type(error).__name__}); the built-in corpus '{BUILTIN}' works offline"
        ) from None
    return Corpus(
        id=f"{path}/{config} (evaluation: {evaluation}, calibration: {calibration})",
        text=texts[evaluation],
        calibration_text=texts[calibration],
    )


def load_corpus(name: str = BUILTIN) -> Corpus:
    """A corpus by name: 'pydoc' (built in), 'wikitext2' or 'c4' (through `datasets`)."""
    if name == BUILTIN:
        return builtin_corpus()
    if name in ("wikitext2", "c4"):
        return _hf_corpus(name)
    raise ValueError(f"corpus {name!r} is not one of {BUILTIN}, wikitext2, c4")


@dataclass(frozen=True)
class Protocol:
    """How a quality number was measured: enough to reproduce or to refuse a comparison."""

    corpus: str
    corpus_sha256: str  # of the exact text of the split that was scored
    split: str
    tokenizer: str
    tokenizer_sha256: str
    seq_len: int
    stride: int
    windows: int
    token_count: int
    kl_top_k: int

    def to_dict(self) -> dict:
        """A JSON-ready dict."""
        return asdict(self)

    @property
    def key(self) -> str:
        """A short hash naming this exact protocol (for caches)."""
        return hashlib.sha256(repr(sorted(self.to_dict().items())).encode()).hexdigest()[:16]


def tokenizer_label(tokenizer) -> str:
    """The tokenizer's name: its Hub id, or the name of the folder it was loaded from."""
    name = getattr(tokenizer, "name_or_path", "") or type(tokenizer).__name__
    return Path(name).name if os.sep in name and Path(name).exists() else name


def tokenizer_fingerprint(tokenizer) -> str:
    """A hash of the vocabulary: two tokenizers with the same hash split text the same way."""
    vocab = sorted(tokenizer.get_vocab().items())
    return hashlib.sha256(repr(vocab).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Windows:
    """Token windows to score: ids [n, seq_len], and from which position each is scored.

    `scored_words` and `scored_bytes` count the text the scored tokens spell (each window's
    scored span decoded; words split on whitespace, bytes in UTF-8): the same negative
    log-likelihood divided by them gives per-word and per-byte perplexity, which, unlike
    per-token perplexity, compare across tokenizers.
    """

    input_ids: torch.Tensor
    score_from: tuple[int, ...]
    protocol: Protocol
    scored_words: int = 0
    scored_bytes: int = 0


def perplexity_levels(windows: Windows) -> dict:
    """The protocol's note of what each perplexity is per, with the scored text's size."""
    return {**PERPLEXITY_UNITS, "scored_words": windows.scored_words,
            "scored_bytes": windows.scored_bytes}


def scored_text_size(tokenizer, windows: list[torch.Tensor],
                     score_from: list[int]) -> tuple[int, int]:
    """(words, UTF-8 bytes) of the text that the scored targets of `windows` spell."""
    words = size = 0
    for window, start in zip(windows, score_from):
        # Targets run from position max(start - 1, 0) + 1 to the end (see evaluate_quality).
        text = tokenizer.decode(window[max(start - 1, 0) + 1:].tolist())
        words += len(text.split())
        size += len(text.encode("utf-8"))
    return words, size


def evaluation_windows(
    tokenizer,
    corpus: Corpus,
    *,
    seq_len: int,
    max_windows: int,
    stride: int | None = None,
    split: str = "evaluation",
    kl_top_k: int = 64,
) -> Windows:
    """Cut the split into windows of `seq_len` tokens.

    Without a stride the windows do not overlap and every target is scored. With a stride,
    windows start every `stride` tokens and only targets not scored before count, so each
    token is scored once with up to `seq_len - stride` tokens of extra context.
    """
    if seq_len < 2:
        raise ValueError("seq_len must be at least 2")
    stride = stride or seq_len
    if not 0 < stride <= seq_len:
        raise ValueError(f"stride must lie in 1..{seq_len}, got {stride}")
    text = corpus.split(split)
    ids = tokenizer(text, return_tensors="pt", add_special_tokens=False).input_ids[0]
    windows, score_from = [], []
    start = 0
    while start + seq_len <= len(ids) and len(windows) < max_windows:
        windows.append(ids[start : start + seq_len])
        score_from.append(0 if not windows[:-1] else seq_len - stride)
        start += stride
    if not windows:
        raise ValueError(
            f"the {split} split has {len(ids)} tokens, fewer than one window of {seq_len}"
        )
    scored = sum(seq_len - 1 - s if s == 0 else seq_len - s for s in score_from)
    protocol = Protocol(
        corpus=corpus.id,
        corpus_sha256=_sha256(text),
        split=split,
        tokenizer=tokenizer_label(tokenizer),
        tokenizer_sha256=tokenizer_fingerprint(tokenizer),
        seq_len=seq_len,
        stride=stride,
        windows=len(windows),
        token_count=scored,
        kl_top_k=kl_top_k,
    )
    words, size = scored_text_size(tokenizer, windows, score_from)
    return Windows(torch.stack(windows), tuple(score_from), protocol, words, size)
