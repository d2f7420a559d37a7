"""Speculative decoding through transformers' assisted generation: a small draft model
proposes tokens, the target verifies them in one forward pass. With greedy decoding the
output must equal the target's own greedy output token for token; what changes is speed.

The acceptance rate is estimated from forward-call counts: each target call in assisted
generation yields the draft tokens it accepted plus one of its own, so accepted =
new tokens - target calls, and every draft call proposes one token."""

from __future__ import annotations

import statistics
import time
from contextlib import contextmanager
from dataclasses import dataclass

import torch

from core.engine.devices import synchronize


@dataclass(frozen=True)
class SpeculativeResult:
    """Target greedy against assisted decoding of the same prompt."""

    new_tokens: int
    greedy_s: float  # median wall time of the target's own greedy decoding
    assisted_s: float  # median wall time with the draft
    output_matches: bool  # assisted output == greedy output, token for token
    acceptance_rate: float  # accepted draft tokens / drafted tokens (estimated, see above)
    drafted: int
    accepted: int

    @property
    def speedup(self) -> float:
        return self.greedy_s / self.assisted_s


@contextmanager
def counting_calls(model: torch.nn.Module):
    """Counts forward calls of `model` while open: yields a one-item list."""
    count = [0]
    handle = model.register_forward_pre_hook(lambda module, args: count.__setitem__(0, count[0] + 1))
    try:
        yield count
    finally:
        handle.remove()


def _timed(run, device, repeats: int) -> tuple[float, torch.Tensor]:
    times, output = [], None
    run()  # warm-up
    for _ in range(repeats):
        synchronize(device)
        start = time.perf_counter()
        output = run()
        synchronize(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times), output


def compare_speculative(target, draft, prompt: torch.Tensor, *, new_tokens: int,
                        repeats: int = 3) -> SpeculativeResult:
    """Decode `new_tokens` after `prompt` [1, len] greedily, alone and with the draft."""
    device = prompt.device
    settings = {"max_new_tokens": new_tokens, "min_new_tokens": new_tokens, "do_sample": False}
    with torch.no_grad():
        greedy_s, greedy = _timed(lambda: target.generate(prompt, **settings), device, repeats)
        assisted_s, assisted = _timed(
            lambda: target.generate(prompt, assistant_model=draft, **settings), device, repeats)
        with counting_calls(target) as target_calls, counting_calls(draft) as draft_calls:
            target.generate(prompt, assistant_model=draft, **settings)
    produced = assisted.shape[1] - prompt.shape[1]
    accepted = max(0, produced - target_calls[0])
    return SpeculativeResult(
        new_tokens=produced, greedy_s=greedy_s, assisted_s=assisted_s,
        output_matches=bool(torch.equal(greedy, assisted)),
        acceptance_rate=accepted / max(draft_calls[0], 1), drafted=draft_calls[0],
        accepted=accepted)
