"""Speed: prefill latency, time to first token, decode throughput at several batch sizes.

Every figure is warmed up first, synchronised with the device, repeated, and reported as the
median with its interquartile range.
"""

from __future__ import annotations

import inspect
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from core.engine.devices import synchronize
from core.engine.kv import cache_argument, cache_keywords, cache_of, new_cache

# Timed code runs under torch.no_grad, not inference_mode: packed tensor subclasses (such as
# optimum-quanto's) fail under inference_mode ("Cannot set version_counter for inference tensor").


@dataclass(frozen=True)
class Timing:
    """Repeated wall-clock samples of one operation, in seconds."""

    samples: tuple[float, ...]

    @property
    def median(self) -> float:
        """The median sample."""
        return statistics.median(self.samples)

    @property
    def iqr(self) -> float:
        """The interquartile range (0 with fewer than two samples)."""
        if len(self.samples) < 2:
            return 0.0
        quartiles = statistics.quantiles(self.samples, n=4, method="inclusive")
        return quartiles[2] - quartiles[0]


def time_repeated(
    operation: Callable[[], object], *, device: torch.device, repeats: int, warmup: int = 1
) -> Timing:
    """Run `operation` `warmup` times untimed, then `repeats` times timed."""
    if repeats < 1:
        raise ValueError("repeats must be at least 1")
    for _ in range(warmup):
        operation()
    synchronize(device)
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        operation()
        synchronize(device)
        samples.append(time.perf_counter() - start)
    return Timing(tuple(samples))


def prefill_timing(model, prompt: torch.Tensor, *, device: torch.device, repeats: int) -> Timing:
    """One forward pass over the prompt, building the KV cache as serving does (and, where
    the model supports it, computing output logits for the last position only)."""
    prompt = prompt.to(device)
    last_only = _last_only(model)

    def prefill():
        with torch.no_grad():
            # A fresh cache each time: the model's own kind (a quantized one quantizes here).
            model(prompt, use_cache=True, **last_only, **cache_keywords(model, new_cache(model)))

    return time_repeated(prefill, device=device, repeats=repeats)


def ttft_timing(model, tokenizer, prompt: torch.Tensor, *, device: torch.device, repeats: int,
                generate_kwargs: dict | None = None) -> Timing:
    """Time to first token through `generate`, the way an application asks for it (with a
    decoding option's `generate_kwargs`, as that application would run it)."""
    prompt = prompt.to(device)
    attention = torch.ones_like(prompt)
    extra = dict(generate_kwargs or {})

    def first_token():
        with torch.no_grad():
            model.generate(
                prompt,
                attention_mask=attention,
                max_new_tokens=1,
                do_sample=False,
                pad_token_id=tokenizer.pad_token_id,
                **_with_model_cache(model, extra),
            )

    return time_repeated(first_token, device=device, repeats=repeats)


def _forward_parameters(model) -> set[str]:
    return set(inspect.signature(model.forward).parameters)


def _last_only(model) -> dict:
    # Output logits for the last position only, where the model supports it.
    return {"logits_to_keep": 1} if "logits_to_keep" in _forward_parameters(model) else {}


def _prefill(model, prompts: torch.Tensor, **extra):
    # The first call gets a fresh cache from the model's cache factory (None: the default),
    # so every later step decodes with that kind of cache.
    cache = new_cache(model)
    out = model(prompts, use_cache=True, **extra, **cache_keywords(model, cache))
    return cache_of(out), out.logits[:, -1:].argmax(-1)


def _decode_steps(model, cache, token: torch.Tensor, steps: int, after_step=None):
    argument = cache_argument(model)
    for step in range(steps):
        out = model(token, use_cache=True, **{argument: cache})
        cache, token = cache_of(out), out.logits[:, -1:].argmax(-1)
        if after_step:
            after_step(step + 1, cache)
    return cache


def greedy_decode(
    model, prompts: torch.Tensor, *, new_tokens: int, device: torch.device,
    after_step: Callable[[int, object], None] | None = None,
):
    """Prefill the prompts and decode `new_tokens` greedily, as `decode_timing` does, untimed;
    `after_step(tokens_decoded, cache)` sees the cache after the prefill (0) and every step.
    Returns the final cache."""
    with torch.no_grad():
        cache, token = _prefill(model, prompts.to(device), **_last_only(model))
        if after_step:
            after_step(0, cache)
        return _decode_steps(model, cache, token, new_tokens, after_step)


def decode_timing(
    model, prompts: torch.Tensor, *, new_tokens: int, device: torch.device, repeats: int
) -> Timing:
    """Greedy decoding of `new_tokens` after the prompts, timed after the prefill.

    The loop feeds one token per step with the KV cache, so the time is pure decode; the
    throughput is batch * new_tokens / time.
    """
    prompts = prompts.to(device)
    last_only = _last_only(model)

    def decode():
        with torch.no_grad():
            cache, token = _prefill(model, prompts, **last_only)
            synchronize(device)
            start = time.perf_counter()
            _decode_steps(model, cache, token, new_tokens)
            synchronize(device)
            return time.perf_counter() - start

    decode()  # warm-up
    return Timing(tuple(decode() for _ in range(repeats)))


def tokens_per_second(timing: Timing, tokens: int) -> tuple[float, float]:
    """Throughput at the median time, and the spread of throughput across samples."""
    rates = [tokens / s for s in timing.samples]
    spread = Timing(tuple(rates)).iqr
    return tokens / timing.median, spread


def decode_energy_per_token(
    model, prompts: torch.Tensor, *, new_tokens: int, device: torch.device, meter,
    min_seconds: float = 2.0,
) -> float | None:
    """Joules per decoded token, counting only the decode steps (prefills stay outside the
    metered spans), over enough rounds to last `min_seconds`: NVML's counter is coarse."""
    if not meter.available:
        return None
    prompts = prompts.to(device)
    joules, tokens, seconds = 0.0, 0, 0.0
    with torch.no_grad():
        while seconds < min_seconds:
            cache, token = _prefill(model, prompts)
            synchronize(device)
            start, before = time.perf_counter(), meter.read()
            _decode_steps(model, cache, token, new_tokens)
            synchronize(device)
            joules += meter.read() - before
            seconds += time.perf_counter() - start
            tokens += prompts.shape[0] * new_tokens
    return joules / tokens


def _with_model_cache(model, settings: dict) -> dict:
    """`settings` for `generate` plus a fresh cache of the model's own kind (a cache
    factory's, e.g. a quantized one), unless the settings choose the cache themselves."""
    if {"cache_implementation", "use_cache"} & settings.keys():
        return settings
    return {**settings, **cache_keywords(model, new_cache(model))}


class _StepClock:
    """A stopping criterion that never stops: it notes the time and the sequence length each
    time `generate` finishes a step, so the decode span can be cut out of one generate call
    (from the end of the first step, which holds the prefill, to the end of the last)."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.marks: list[tuple[float, int]] = []

    def __call__(self, input_ids: torch.Tensor, scores, **kwargs) -> torch.Tensor:
        synchronize(self.device)
        self.marks.append((time.perf_counter(), input_ids.shape[1]))
        return torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)


@dataclass(frozen=True)
class GeneratedDecode:
    """Decoding through `generate`, timed after its first step."""

    timing: Timing  # seconds from the end of the first step to the end of the last
    tokens: int  # tokens decoded in that span, all sequences together
    output: torch.Tensor  # the generated ids (prompt included) of the last run
    target_calls: int  # forward calls of the model in one run
    proposed: int | None  # draft tokens proposed in one run (assisted generation), else None
    generated: int  # new tokens per sequence in that run

    @property
    def tokens_per_second(self) -> tuple[float, float]:
        return tokens_per_second(self.timing, self.tokens)

    @property
    def accepted(self) -> int | None:
        # Each verifying forward call keeps the draft tokens it accepted plus one of its
        # own; the first call (the prefill) is a verifying call too.
        if self.proposed is None:
            return None
        return max(0, self.generated - self.target_calls)

    @property
    def acceptance_rate(self) -> float | None:
        if self.proposed is None:
            return None
        return self.accepted / self.proposed if self.proposed else 0.0


def _counting_proposals(model, proposed: list[int]):
    """Wrap `generate`'s candidate generator for one run so the tokens it proposes are
    counted; transformers builds a fresh one per call through `_get_candidate_generator`."""
    make = model._get_candidate_generator

    def counting(*args, **kwargs):
        generator = make(*args, **kwargs)
        propose = generator.get_candidates

        def get_candidates(input_ids, *a, **k):
            candidates, logits = propose(input_ids, *a, **k)
            proposed.append(candidates.shape[1] - input_ids.shape[1])
            return candidates, logits

        generator.get_candidates = get_candidates
        return generator

    return counting


def generate_decode(
    model, prompts: torch.Tensor, *, new_tokens: int, device: torch.device, repeats: int,
    generate_kwargs: dict | None = None, pad_token_id: int | None = None,
) -> GeneratedDecode:
    """Greedy `generate` of exactly `new_tokens` after the prompts with `generate_kwargs`
    (a static cache, assisted generation, no cache...), warmed up once and timed `repeats`
    times after its first step; a further, untimed run counts forward calls and proposals."""
    from transformers import StoppingCriteriaList

    prompts = prompts.to(device)
    settings = {"max_new_tokens": new_tokens, "min_new_tokens": new_tokens, "do_sample": False,
                "attention_mask": torch.ones_like(prompts), "pad_token_id": pad_token_id,
                **(generate_kwargs or {})}

    def run() -> tuple[torch.Tensor, _StepClock]:
        clock = _StepClock(device)
        with torch.no_grad():
            output = model.generate(prompts, stopping_criteria=StoppingCriteriaList([clock]),
                                    **_with_model_cache(model, settings))
        synchronize(device)
        return output, clock

    run()  # warm-up (and, with a compiled forward, the compile)
    spans: list[tuple[float, int]] = []
    for _ in range(repeats):
        _, clock = run()
        (start, first), (end, last) = clock.marks[0], clock.marks[-1]
        if last <= first:
            raise ValueError("generate finished in one step: decode more tokens to time it")
        spans.append((end - start, last - first))
    # Greedy decoding decodes the same span every run; should assisted generation split its
    # first step differently, each sample is scaled to the longest span so rates stay exact.
    longest = max(tokens for _, tokens in spans)
    samples = tuple(seconds * longest / tokens for seconds, tokens in spans)
    proposed: list[int] = []
    calls = [0]
    def count_call(module, args) -> None:
        calls[0] += 1

    handle = model.register_forward_pre_hook(count_call)
    assisted = "assistant_model" in settings or settings.get("prompt_lookup_num_tokens")
    try:
        if assisted:
            model._get_candidate_generator = _counting_proposals(model, proposed)
        counted, _ = run()
    finally:
        handle.remove()
        model.__dict__.pop("_get_candidate_generator", None)
    return GeneratedDecode(
        Timing(samples),
        prompts.shape[0] * longest,
        counted,
        calls[0],
        sum(proposed) if assisted else None,
        counted.shape[1] - prompts.shape[1],
    )
