"""Perplexity, KL and agreement are what their definitions say."""

from __future__ import annotations

import math

import pytest
import torch

from core.engine.data import Corpus, evaluation_windows
from core.engine.models import load_model
from core.engine.quality import BaselineMismatchError, _bucketed_kl, _rest_logprob, evaluate_quality

TEXT = Corpus(id="test", text=("The quick brown fox jumps over the lazy dog. " * 60 + "\n\n") * 8)


def _windows(tokenizer, k=16, seq_len=64, stride=None):
    return evaluation_windows(
        tokenizer, TEXT, seq_len=seq_len, max_windows=4, stride=stride, kl_top_k=k
    )


def test_perplexity_is_exp_of_the_mean_nll(tiny):
    windows = _windows(tiny.tokenizer)
    result, _ = evaluate_quality(tiny.model, windows, device=tiny.device)
    with torch.no_grad():
        ids = windows.input_ids.to(tiny.device)
        logits = tiny.model(ids).logits.float()
        nll = torch.nn.functional.cross_entropy(
            logits[:, :-1].reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1)
        )
    assert result.tokens == ids[:, 1:].numel() == windows.protocol.token_count
    assert result.ppl == pytest.approx(math.exp(nll.item()), rel=1e-4)


def test_strided_windows_score_each_token_once(tiny):
    windows = _windows(tiny.tokenizer, stride=32)
    result, outputs = evaluate_quality(tiny.model, windows, device=tiny.device)
    # First window scores 63 targets, each later one the 32 new tokens.
    assert result.tokens == 63 + 3 * 32 == outputs.argmax.numel()


def test_a_model_against_its_own_baseline_has_zero_kl_and_full_agreement(tiny):
    windows = _windows(tiny.tokenizer)
    _, baseline = evaluate_quality(tiny.model, windows, device=tiny.device)
    result, _ = evaluate_quality(tiny.model, windows, device=tiny.device, baseline=baseline)
    assert result.kl == pytest.approx(0.0, abs=1e-6)
    assert result.top1_agreement == 1.0


def test_a_different_model_diverges_from_the_baseline(tiny, device):
    other = load_model("tiny:1", device=device)
    windows = _windows(tiny.tokenizer)
    _, baseline = evaluate_quality(tiny.model, windows, device=tiny.device)
    result, _ = evaluate_quality(other.model, windows, device=other.device, baseline=baseline)
    assert result.kl > 0.001
    assert result.top1_agreement < 1.0


def test_bucketed_kl_equals_full_kl_when_k_covers_the_vocabulary():
    generator = torch.Generator().manual_seed(0)
    p_logits, q_logits = torch.randn(2, 5, 11, generator=generator)
    p, q = torch.log_softmax(p_logits, -1), torch.log_softmax(q_logits, -1)
    full = (p.exp() * (p - q)).sum(-1)
    top_p, top_ids = p.topk(11, dim=-1)
    everything = _bucketed_kl(top_ids, top_p, _rest_logprob(p, top_ids), q)
    assert torch.allclose(everything, full, atol=1e-5)
    # With fewer tokens kept the bucketed figure is a lower bound, and still non-negative.
    top_p, top_ids = p.topk(3, dim=-1)
    partial = _bucketed_kl(top_ids, top_p, _rest_logprob(p, top_ids), q)
    assert torch.all(partial <= full + 1e-6) and torch.all(partial >= -1e-6)


def test_bucketed_kl_keeps_tiny_tails_exact():
    # The model is far more confident than the baseline: its tail mass (1e-9) is below
    # float32's resolution next to 1, where "1 - sum" would lose it entirely.
    vocab = 50
    p_probs = torch.full((vocab,), 1e-3 / (vocab - 1))
    p_probs[0] = 1 - 1e-3
    q_probs = torch.full((vocab,), 1e-9 / (vocab - 1))
    q_probs[0] = 1 - 1e-9
    p, q = p_probs.double().log().float()[None], q_probs.double().log().float()[None]
    full = (p_probs.double() * (p_probs.double().log() - q_probs.double().log())).sum()
    top_p, top_ids = p.topk(1, dim=-1)
    bucketed = _bucketed_kl(top_ids, top_p, _rest_logprob(p, top_ids), q)
    assert bucketed.item() <= full.item() * 1.001
    assert bucketed.item() == pytest.approx(full.item(), rel=0.01)


def test_a_baseline_from_another_protocol_is_refused(tiny):
    _, baseline = evaluate_quality(tiny.model, _windows(tiny.tokenizer), device=tiny.device)
    shorter = evaluation_windows(tiny.tokenizer, TEXT, seq_len=32, max_windows=2)
    with pytest.raises(BaselineMismatchError, match="another protocol"):
        evaluate_quality(tiny.model, shorter, device=tiny.device, baseline=baseline)
    # The same number of positions from another split is refused too, not silently compared.
    other_split = evaluation_windows(
        tiny.tokenizer, TEXT, seq_len=64, max_windows=4, kl_top_k=16, split="calibration"
    )
    with pytest.raises(BaselineMismatchError):
        evaluate_quality(tiny.model, other_split, device=tiny.device, baseline=baseline)


def test_word_and_byte_perplexity_spread_the_same_likelihood_over_the_scored_text(tiny):
    windows = _windows(tiny.tokenizer)
    result, _ = evaluate_quality(tiny.model, windows, device=tiny.device)
    # The scored targets spell (nearly) the repeated sentence: 9 words in 45 bytes.
    assert windows.scored_bytes == pytest.approx(windows.scored_words * 45 / 9, rel=0.05)
    total_nll = result.mean_nll * result.tokens
    assert math.log(result.word_ppl) * windows.scored_words == pytest.approx(total_nll, rel=1e-6)
    assert math.log(result.byte_ppl) * windows.scored_bytes == pytest.approx(total_nll, rel=1e-6)
    # The tiny model's tokenizer is byte-level: per byte is per token, and a word (plus its
    # space) spans about five tokens, so its perplexity is about the token one to the fifth.
    assert windows.scored_bytes == result.tokens
    assert result.byte_ppl == pytest.approx(result.ppl)
    assert math.log(result.word_ppl) == pytest.approx(5 * math.log(result.ppl), rel=0.05)


def test_scored_text_counts_follow_the_scored_span_of_strided_windows(tiny):
    plain, strided = _windows(tiny.tokenizer), _windows(tiny.tokenizer, stride=32)
    # Strided windows after the first score only their 32 new tokens: less text.
    assert 0 < strided.scored_bytes < plain.scored_bytes
    assert 0 < strided.scored_words < plain.scored_words
