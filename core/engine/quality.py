"""Quality against a protocol: perplexity, and KL divergence and top-1 agreement with a baseline.

The baseline's next-token distributions are summarised per scored position by its top-k
tokens and their log-probabilities, the log of the probability left outside them, and the
argmax; cached per (model, protocol), so a comparison never recomputes them. KL is computed
over those k tokens with all other tokens merged into one bucket (both tails computed in
log space): a lower bound of the full KL that is tight when the top k tokens carry nearly
all the probability (the protocol records k).

A model whose KV cache is an inference-time option (see core.engine.kv) would show nothing
in a full-window pass, which caches no keys or values. Its windows are scored through its
cache instead, `CACHE_CHUNK_TOKENS` tokens per forward call, and the chunks' logits joined:
each chunk attends to the keys and values cached by the earlier ones (quantized ones, past
the cache's float window), and the scored positions and their targets stay the same as a
full-window pass's, so perplexity, KL and agreement remain comparable with the baseline's.
"""

from __future__ import annotations

import math
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from core.engine.data import Windows
from core.engine.devices import synchronize
from core.engine.kv import cache_keywords, cache_of, new_cache

# Tokens per forward call when a window is scored through the model's cache. Small enough
# that most tokens attend to keys and values cached by earlier calls (a quantized cache keeps
# only its most recent ones, 128 by default, in float), large enough to stay fast.
CACHE_CHUNK_TOKENS = 32


class BaselineMismatchError(ValueError):
    """A baseline was measured under another protocol or for another model."""


@dataclass
class BaselineOutputs:
    """A reference model's summarised predictions at every scored position."""

    topk_ids: torch.Tensor  # [positions, k] int64
    topk_logprobs: torch.Tensor  # [positions, k] float32
    rest_logprob: torch.Tensor  # [positions] float32: log of the mass outside the top k
    argmax: torch.Tensor  # [positions] int64
    protocol_key: str = ""

    def save(self, path: Path) -> None:
        """Write as safetensors (never pickle), under a unique temporary name, then rename."""
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, staging = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        os.close(handle)
        tensors = {
            "topk_ids": self.topk_ids,
            "topk_logprobs": self.topk_logprobs,
            "rest_logprob": self.rest_logprob,
            "argmax": self.argmax,
        }
        save_file(tensors, staging, metadata={"protocol_key": self.protocol_key})
        os.replace(staging, path)

    @classmethod
    def load(cls, path: Path) -> BaselineOutputs:
        """Read a cached baseline, with the protocol it was measured under."""
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
            tensors = {name: handle.get_tensor(name) for name in handle.keys()}
        return cls(
            tensors["topk_ids"],
            tensors["topk_logprobs"],
            tensors["rest_logprob"],
            tensors["argmax"],
            protocol_key=metadata.get("protocol_key", ""),
        )


@dataclass(frozen=True)
class QualityResult:
    """Quality figures of one pass over the evaluation windows."""

    ppl: float
    mean_nll: float
    tokens: int
    kl: float | None
    top1_agreement: float | None
    eval_tok_s: float
    # The same likelihood per word and per byte of the scored text (None when the windows
    # carry no text counts): token perplexity depends on the tokenizer, these do not.
    word_ppl: float | None = None
    byte_ppl: float | None = None


def _per_unit_ppl(total_nll: float, units: int) -> float | None:
    # exp(total NLL / units); overflow means a model so bad that "infinite" is the honest value.
    if units <= 0:
        return None
    try:
        return math.exp(total_nll / units)
    except OverflowError:
        return math.inf


def _rest_logprob(logprobs: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    # log of the probability outside `ids`, exact in log space (1 - sum loses tiny tails).
    return logprobs.scatter(-1, ids, float("-inf")).logsumexp(-1)


def _bucketed_kl(
    base_ids: torch.Tensor,
    base_logprobs: torch.Tensor,
    base_rest: torch.Tensor,
    logprobs: torch.Tensor,
) -> torch.Tensor:
    # KL(p || q) over the baseline's top-k tokens plus one bucket for all the others.
    p = base_logprobs.exp()
    head = (p * (base_logprobs - logprobs.gather(-1, base_ids))).sum(-1)
    q_rest = _rest_logprob(logprobs, base_ids)
    p_rest = base_rest.exp()
    tail = torch.where(p_rest > 0, p_rest * (base_rest - q_rest), torch.zeros_like(p_rest))
    return head + tail


def window_logits(model, input_ids: torch.Tensor, *,
                  chunk_tokens: int = CACHE_CHUNK_TOKENS) -> torch.Tensor:
    """Float logits at every position of one window [1, length]: one full pass without a
    cache, or, for a model with a cache factory, chunk by chunk through a fresh cache."""
    cache = new_cache(model)
    if cache is None:
        return model(input_ids, use_cache=False).logits[0].float()
    pieces = []
    for start in range(0, input_ids.shape[1], chunk_tokens):
        out = model(
            input_ids[:, start : start + chunk_tokens],
            use_cache=True,
            **cache_keywords(model, cache),
        )
        cache = cache_of(out)
        pieces.append(out.logits[0].float())
    return torch.cat(pieces)


def evaluate_quality(
    model,
    windows: Windows,
    *,
    device: torch.device,
    baseline: BaselineOutputs | None = None,
    compare_with_self: bool = False,
    progress: Callable[[float], None] | None = None,
) -> tuple[QualityResult, BaselineOutputs]:
    """Score every window; return the figures and this model's own summarised outputs.

    With a `baseline`, KL and top-1 agreement are measured against it. Without one,
    `compare_with_self` runs the same comparison against the model's own summaries (a
    baseline measured for the first time), so those figures are always computed.
    """
    protocol = windows.protocol
    if baseline is not None:
        if baseline.protocol_key and baseline.protocol_key != protocol.key:
            raise BaselineMismatchError(
                "the baseline was measured under another protocol "
                f"({baseline.protocol_key}, this run {protocol.key})"
            )
        if baseline.argmax.numel() != protocol.token_count:
            raise BaselineMismatchError(
                f"the baseline scored {baseline.argmax.numel()} positions, this protocol "
                f"scores {protocol.token_count}: it was measured under a different protocol"
            )
    k = protocol.kl_top_k
    total_nll, total_tokens = 0.0, 0
    kl_sum, agree = 0.0, 0
    parts: dict[str, list[torch.Tensor]] = {"ids": [], "logprobs": [], "rest": [], "argmax": []}
    cursor = 0
    start = time.perf_counter()
    with torch.no_grad():
        for i, (window, score_from) in enumerate(zip(windows.input_ids, windows.score_from)):
            input_ids = window.unsqueeze(0).to(device)
            logits = window_logits(model, input_ids)
            first = max(score_from - 1, 0)
            logprobs = torch.log_softmax(logits[first:-1], dim=-1)
            targets = input_ids[0, first + 1 :]
            n = targets.numel()
            total_nll -= logprobs.gather(-1, targets.unsqueeze(-1)).sum().item()
            total_tokens += n
            top_logprobs, top_ids = logprobs.topk(min(k, logprobs.shape[-1]), dim=-1)
            rest = _rest_logprob(logprobs, top_ids)
            argmax = top_ids[:, 0]
            for name, value in (
                ("ids", top_ids),
                ("logprobs", top_logprobs),
                ("rest", rest),
                ("argmax", argmax),
            ):
                parts[name].append(value.cpu())
            if baseline is not None:
                span = slice(cursor, cursor + n)
                base = (
                    baseline.topk_ids[span].to(device),
                    baseline.topk_logprobs[span].to(device),
                    baseline.rest_logprob[span].to(device),
                    baseline.argmax[span].to(device),
                )
            else:
                base = (top_ids, top_logprobs, rest, argmax)
            if baseline is not None or compare_with_self:
                kl_sum += _bucketed_kl(base[0], base[1], base[2], logprobs).sum().item()
                agree += (argmax == base[3]).sum().item()
            cursor += n
            if progress:
                progress((i + 1) / len(windows.input_ids))
    synchronize(device)
    elapsed = time.perf_counter() - start
    compared = baseline is not None or compare_with_self
    mean_nll = total_nll / total_tokens
    result = QualityResult(
        ppl=math.exp(mean_nll),
        mean_nll=mean_nll,
        tokens=total_tokens,
        kl=kl_sum / total_tokens if compared else None,
        top1_agreement=agree / total_tokens if compared else None,
        eval_tok_s=total_tokens / elapsed,
        word_ppl=_per_unit_ppl(total_nll, windows.scored_words),
        byte_ppl=_per_unit_ppl(total_nll, windows.scored_bytes),
    )
    outputs = BaselineOutputs(
        torch.cat(parts["ids"]),
        torch.cat(parts["logprobs"]),
        torch.cat(parts["rest"]),
        torch.cat(parts["argmax"]),
        protocol_key=protocol.key,
    )
    return result, outputs


def baseline_path(cache: Path, model_fingerprint: str, protocol_key: str) -> Path:
    """Where the baseline outputs of (model, protocol) are cached."""
    return cache / "baselines" / f"{model_fingerprint}-{protocol_key}.safetensors"
