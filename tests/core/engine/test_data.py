"""The built-in corpus, disjoint splits, windows and the protocol record."""

from __future__ import annotations

import hashlib

import pytest

from core.engine.data import Corpus, builtin_corpus, evaluation_windows, load_corpus
from core.engine.tiny import byte_tokenizer


def test_builtin_corpus_is_pydoc_topics_sorted_and_joined():
    from pydoc_data.topics import topics

    corpus = builtin_corpus()
    first = sorted(topics)[0]
    assert corpus.text.startswith(topics[first])
    assert corpus.text == "\n\n".join(topics[key] for key in sorted(topics))
    assert corpus.id.startswith("cpython-pydoc-topics-")


def test_calibration_and_evaluation_are_disjoint_and_cover_the_text():
    corpus = builtin_corpus()
    calibration, evaluation = corpus.split("calibration"), corpus.split("evaluation")
    assert calibration + evaluation == corpus.text
    assert 0.2 < len(calibration) / len(corpus.text) < 0.3
    with pytest.raises(ValueError, match="split 'train'"):
        corpus.split("train")


def test_protocol_hash_changes_when_the_text_changes():
    a = Corpus("x", "alpha beta gamma " * 100)
    b = Corpus("x", "alpha beta gamma " * 99 + "alpha beta delta ")
    assert a.sha256 != b.sha256
    tokenizer = byte_tokenizer()
    pa = evaluation_windows(tokenizer, a, seq_len=32, max_windows=2).protocol
    pb = evaluation_windows(tokenizer, b, seq_len=32, max_windows=2).protocol
    assert pa.key != pb.key
    assert pa.corpus_sha256 == hashlib.sha256(a.split("evaluation").encode()).hexdigest()


def test_protocol_records_everything_needed_to_reproduce():
    tokenizer = byte_tokenizer()
    protocol = evaluation_windows(
        tokenizer, Corpus("c", "some words " * 500), seq_len=64, max_windows=3, stride=32
    ).protocol
    record = protocol.to_dict()
    for field in ("corpus", "corpus_sha256", "split", "tokenizer", "tokenizer_sha256",
                  "seq_len", "stride", "windows", "token_count", "kl_top_k"):
        assert field in record
    assert (record["seq_len"], record["stride"], record["windows"]) == (64, 32, 3)


def test_too_short_a_text_says_so():
    with pytest.raises(ValueError, match="fewer than one window"):
        evaluation_windows(byte_tokenizer(), Corpus("c", "short " * 10), seq_len=512, max_windows=1)


def test_unknown_corpus_is_a_clear_error():
    with pytest.raises(ValueError, match="corpus 'books' is not one of"):
        load_corpus("books")
