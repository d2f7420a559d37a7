"""The lean decode path every speed figure is taken on: a static KV cache allocated once, the
one-token decode step compiled (torch.compile on CPU; on CUDA the same call with CUDA graphs,
mode "reduce-overhead"), positions prepared before the clock starts, warmed up before timing.

A plain transformers loop spends much of each step in Python and framework work (growing the
cache, building masks, dispatching small ops); that overhead squeezes every technique's
speedup toward 1x. Here a step is one compiled call, so what a technique saves in bytes and
kernels shows in the figure. The compile is paid once, on the first call, and reported apart
(`first_call_s`), never in tokens/s.

Where the lean path cannot run, the figure says which path timed it and why: a model with a
KV cache of a technique's own (a quantized cache) decodes through that cache in the engine's
eager loop; a model the static cache or the compiler refuses falls back one step at a time
(compiled -> static eager -> eager loop), and `why` keeps the reason.
"""

from __future__ import annotations

import time

import torch

from core.engine.devices import synchronize
from core.engine.kv import cache_argument, cache_of, cache_option, new_cache

COMPILED = "lean: static cache, torch.compile"
GRAPHS = "lean: static cache, torch.compile with CUDA graphs"
STATIC_EAGER = "static cache, eager"
EAGER_LOOP = "eager loop, the model's own cache"


def _reason(error: BaseException) -> str:
    # The first line of the error, short enough to sit in a result's notes.
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0][:200] if text else ''}".rstrip(": ")


class _StaticDecoder:
    """A static cache for `batch` sequences of up to `length` tokens, and the decode step."""

    def __init__(self, model, batch: int, length: int, device: torch.device) -> None:
        from transformers import StaticCache

        self.model = model
        self.cache = StaticCache(config=model.config, max_cache_len=length)
        self.argument = cache_argument(model)
        self.batch = batch
        self.device = device
        self.step = self._eager_step

    def _eager_step(self, token: torch.Tensor, position: torch.Tensor) -> torch.Tensor:
        out = self.model(token, use_cache=True, position_ids=position, logits_to_keep=1,
                         **{self.argument: self.cache})
        return out.logits[:, -1:].argmax(-1)

    def compile(self) -> str:
        """Compile the step; returns the path label it will run on."""
        graphs = self.device.type == "cuda"
        # dynamic=False: one shape per batch size, compiled for exactly that shape.
        self.step = torch.compile(self._eager_step, dynamic=False,
                                  mode="reduce-overhead" if graphs else None)
        return GRAPHS if graphs else COMPILED

    def run(self, prompts: torch.Tensor, new_tokens: int) -> tuple[float, torch.Tensor]:
        """Prefill (untimed, eager: prefill is one large call), then `new_tokens` timed steps."""
        self.cache.reset()
        start_position = prompts.shape[1]
        positions = [torch.full((self.batch, 1), start_position + i, device=self.device)
                     for i in range(new_tokens)]
        out = self.model(prompts, use_cache=True, logits_to_keep=1, **{self.argument: self.cache})
        token = out.logits[:, -1:].argmax(-1)
        tokens = []
        synchronize(self.device)
        start = time.perf_counter()
        for position in positions:
            tokens.append(token)
            token = self.step(token, position)
        synchronize(self.device)
        seconds = time.perf_counter() - start
        return seconds, torch.cat(tokens + [token], dim=1)


def _eager_loop(model, prompts: torch.Tensor, new_tokens: int,
                device: torch.device) -> tuple[float, torch.Tensor]:
    # The model's own cache (a technique's quantized cache, say), one forward call a token.
    argument = cache_argument(model)
    cache = new_cache(model)
    extra = {} if cache is None else {argument: cache}
    out = model(prompts, use_cache=True, logits_to_keep=1, **extra)
    cache, token = cache_of(out), out.logits[:, -1:].argmax(-1)
    tokens = [token]
    synchronize(device)
    start = time.perf_counter()
    for _ in range(new_tokens):
        out = model(token, use_cache=True, **{argument: cache})
        cache, token = cache_of(out), out.logits[:, -1:].argmax(-1)
        tokens.append(token)
    synchronize(device)
    return time.perf_counter() - start, torch.cat(tokens, dim=1)


class LeanDecoder:
    """Greedy decoding of one batch of prompts, prepared once (cache, compile, warm-up) and
    timed as often as asked, so that other measurements can be interleaved between samples
    (A, B, B, A) without paying the compile again.

    After preparing: `path` says which path times it (COMPILED, GRAPHS, STATIC_EAGER or
    EAGER_LOOP), `why` why it is not the compiled one (or None), `first_call_s` the compiled
    step's first call (its compile; None when nothing compiled), `tokens` the tokens one run
    decodes (all sequences), and `output` the last run's ids [batch, new_tokens + 1]: the
    prefill's token, then one a step."""

    def __init__(self, model, prompts: torch.Tensor, *, new_tokens: int, device: torch.device,
                 compile: bool = True) -> None:
        if new_tokens < 1:
            raise ValueError("new_tokens must be at least 1")
        self.model, self.device, self.new_tokens = model, device, new_tokens
        self.prompts = prompts.to(device)
        self.tokens = self.prompts.shape[0] * new_tokens
        self.why: str | None = None
        self.first_call_s: float | None = None
        self.output: torch.Tensor | None = None
        self._decoder = None
        with torch.no_grad():
            self._prepare(compile)

    def _prepare(self, compile: bool) -> None:
        option = cache_option(self.model)
        if option is not None:
            self.path = EAGER_LOOP
            self.why = f"the KV cache is the technique's own ({option.label})"
        else:
            self._decoder, self.path, self.why = _static_decoder(
                self.model, self.prompts, self.new_tokens, self.device, compile)
        if self.path in (COMPILED, GRAPHS):
            start = time.perf_counter()
            try:
                self._run()  # the first call compiles
                self.first_call_s = time.perf_counter() - start
            except Exception as error:  # noqa: BLE001  (any compiler failure)
                self._decoder.step = self._decoder._eager_step
                self.path, self.why = STATIC_EAGER, f"torch.compile failed: {_reason(error)}"
        self._run()  # warm-up (CUDA graphs record on their second call; caches are paged in)

    def _run(self) -> float:
        if self._decoder is None:
            seconds, self.output = _eager_loop(self.model, self.prompts, self.new_tokens,
                                               self.device)
        else:
            seconds, self.output = self._decoder.run(self.prompts, self.new_tokens)
        return seconds

    def sample(self, repeats: int) -> tuple[float, ...]:
        """`repeats` timed runs: seconds for `new_tokens` steps each."""
        if repeats < 1:
            raise ValueError("repeats must be at least 1")
        with torch.no_grad():
            return tuple(self._run() for _ in range(repeats))


def _static_decoder(model, prompts, new_tokens, device, compile: bool):
    """The static-cache decoder (compiled when asked and possible), or None with the reason
    the eager loop must time this model instead."""
    try:
        decoder = _StaticDecoder(model, prompts.shape[0], prompts.shape[1] + new_tokens, device)
        decoder.run(prompts, 1)  # the static cache and this model agree
    except Exception as error:  # noqa: BLE001  (an architecture the static cache refuses)
        return None, EAGER_LOOP, f"no static KV cache for this model: {_reason(error)}"
    if not compile:
        return decoder, STATIC_EAGER, "compilation turned off for this measurement"
    return decoder, decoder.compile(), None
