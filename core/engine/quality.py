"""Quality against a protocol: perplexity, and KL divergence and top-1 agreement with a baseline.

The baseline's next-token distributions are summarised per scored position by its top-k
tokens and their log-probabilities (plus the argmax), cached per (model, protocol) so a
comparison never recomputes them. KL is computed over those k tokens with all other tokens
merged into one bucket: a lower bound of the full KL that is tight when the top k tokens
carry nearly all the probability (the protocol records k).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from core.engine.data import Windows
from core.engine.devices import synchronize


@dataclass
class BaselineOutputs:
    """A reference model's summarised predictions at every scored position."""

    topk_ids: torch.Tensor  # [positions, k] int64
    topk_logprobs: torch.Tensor  # [positions, k] float32
    argmax: torch.Tensor  # [positions] int64

    def save(self, path: Path) -> None:
        """Write atomically as safetensors (never pickle)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        staging = path.with_suffix(".tmp")
        save_file(
            {"topk_ids": self.topk_ids, "topk_logprobs": self.topk_logprobs, "argmax": self.argmax},
            str(staging),
        )
        staging.replace(path)

    @classmethod
    def load(cls, path: Path) -> BaselineOutputs:
        """Read a cached baseline."""
        tensors = load_file(str(path))
        return cls(tensors["topk_ids"], tensors["topk_logprobs"], tensors["argmax"])


@dataclass(frozen=True)
class QualityResult:
    """Quality figures of one pass over the evaluation windows."""

    ppl: float
    mean_nll: float
    tokens: int
    kl: float | None
    top1_agreement: float | None
    eval_tok_s: float


def _bucketed_kl(
    base_ids: torch.Tensor, base_logprobs: torch.Tensor, logprobs: torch.Tensor
) -> torch.Tensor:
    # KL(p || q) over the baseline's top-k tokens plus one bucket for the rest.
    p = base_logprobs.exp()
    q_logprobs = logprobs.gather(-1, base_ids)
    head = (p * (base_logprobs - q_logprobs)).sum(-1)
    p_rest = (1 - p.sum(-1)).clamp_min(0)
    q_rest = (1 - q_logprobs.exp().sum(-1)).clamp_min(1e-12)
    tail = torch.where(p_rest > 0, p_rest * (p_rest.clamp_min(1e-12).log() - q_rest.log()), 0.0)
    return head + tail


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
    k = windows.protocol.kl_top_k
    total_nll, total_tokens = 0.0, 0
    kl_sum, agree = 0.0, 0
    ids_parts, logprob_parts, argmax_parts = [], [], []
    cursor = 0
    start = time.perf_counter()
    with torch.inference_mode():
        for i, (window, score_from) in enumerate(zip(windows.input_ids, windows.score_from)):
            input_ids = window.unsqueeze(0).to(device)
            logits = model(input_ids, use_cache=False).logits[0].float()
            first = max(score_from - 1, 0)
            logprobs = torch.log_softmax(logits[first:-1], dim=-1)
            targets = input_ids[0, first + 1 :]
            total_nll -= logprobs.gather(-1, targets.unsqueeze(-1)).sum().item()
            total_tokens += targets.numel()
            top_logprobs, top_ids = logprobs.topk(k, dim=-1)
            argmax = top_ids[:, 0]
            ids_parts.append(top_ids.cpu())
            logprob_parts.append(top_logprobs.cpu())
            argmax_parts.append(argmax.cpu())
            n = targets.numel()
            if baseline is not None:
                base_ids = baseline.topk_ids[cursor : cursor + n].to(device)
                base_lp = baseline.topk_logprobs[cursor : cursor + n].to(device)
                base_argmax = baseline.argmax[cursor : cursor + n].to(device)
            else:
                base_ids, base_lp, base_argmax = top_ids, top_logprobs, argmax
            if baseline is not None or compare_with_self:
                kl_sum += _bucketed_kl(base_ids, base_lp, logprobs).sum().item()
                agree += (argmax == base_argmax).sum().item()
            cursor += n
            if progress:
                progress((i + 1) / len(windows.input_ids))
    synchronize(device)
    elapsed = time.perf_counter() - start
    if baseline is not None and cursor != baseline.argmax.numel():
        raise ValueError("the baseline was computed under a different protocol (position count)")
    compared = baseline is not None or compare_with_self
    mean_nll = total_nll / total_tokens
    result = QualityResult(
        ppl=math.exp(mean_nll),
        mean_nll=mean_nll,
        tokens=total_tokens,
        kl=kl_sum / total_tokens if compared else None,
        top1_agreement=agree / total_tokens if compared else None,
        eval_tok_s=total_tokens / elapsed,
    )
    outputs = BaselineOutputs(
        torch.cat(ids_parts), torch.cat(logprob_parts), torch.cat(argmax_parts)
    )
    return result, outputs


def baseline_path(cache: Path, model_fingerprint: str, protocol_key: str) -> Path:
    """Where the baseline outputs of (model, protocol) are cached."""
    return cache / "baselines" / f"{model_fingerprint}-{protocol_key}.safetensors"
