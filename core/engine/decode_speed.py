"""Decode figures at one batch size, as a measurement takes them: on the lean path with plain
transformers generate beside it at batch 1 (lean, generate, lean), or, for a model with a
decoding option, through generate with the same model's default generation side by side."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext

import torch

from core.engine.decoding import DecodingOption, decoding_option
from core.engine.lean_decode import LeanDecoder
from core.engine.measure_config import MeasureConfig
from core.engine.models import LoadedModel
from core.engine.speed import GeneratedDecode, Timing, generate_decode, tokens_per_second

Progress = Callable[[str, float], None]


def text_prompts(windows_ids: torch.Tensor, length: int, batch: int) -> torch.Tensor:
    """`batch` prompts of `length` tokens of real text, a different slice for each."""
    flat = windows_ids.reshape(-1)
    needed = length * batch
    if flat.numel() < needed:
        flat = flat.repeat(needed // flat.numel() + 1)
    return flat[:needed].reshape(batch, length)


def decode_figures(
    loaded: LoadedModel, config: MeasureConfig, text_ids: torch.Tensor, batch: int,
    metrics: dict, spread: dict, report: Progress, paths: dict | None = None,
) -> None:
    """Decode at `batch` on the lean path (through `generate` for a model with a decoding
    option); `paths[batch]` records (path, why) of the lean figure."""
    paths = {} if paths is None else paths
    report(f"decode_b{batch}", 0.0)
    prompts = text_prompts(text_ids, config.decode_prompt_tokens, batch)
    option = decoding_option(loaded.model)
    if option is not None:
        _with_option(loaded, config, option, prompts, metrics, spread)
        return
    lean = LeanDecoder(loaded.model, prompts, new_tokens=config.decode_new_tokens,
                       device=loaded.device, compile=config.compile_decode)
    key = f"decode_tok_s_b{batch}"
    if batch == 1:
        # Lean, transformers generate, lean: the generate figure is taken between the lean
        # path's two halves, so a drift of the machine's speed touches both alike.
        first = lean.sample(max(1, config.repeats // 2))
        generated = generate_decode(
            loaded.model, prompts, new_tokens=config.decode_new_tokens, device=loaded.device,
            repeats=config.repeats, pad_token_id=getattr(loaded.tokenizer, "pad_token_id", None))
        samples = first + lean.sample(config.repeats - len(first))
        metrics["generate_tok_s_b1"], spread["generate_tok_s_b1"] = generated.tokens_per_second
        metrics["decode_first_call_s"] = lean.first_call_s
    else:
        samples = lean.sample(config.repeats)
    metrics[key], spread[key] = tokens_per_second(Timing(samples), lean.tokens)
    paths[batch] = (lean.path, lean.why)


def _with_option(
    loaded: LoadedModel, config: MeasureConfig, option: DecodingOption, prompts: torch.Tensor,
    metrics: dict, spread: dict,
) -> None:
    """Decode through `generate` with the model's decoding option, and (batch 1) with its
    default generation beside it, in the order default, option, option, default, so that
    decode_speedup_b1 compares two figures taken moments apart by the same method."""
    batch = prompts.shape[0]
    key = f"decode_tok_s_b{batch}"
    if not option.supports_batch(batch):
        metrics[key] = None
        return

    def timed(kwargs: dict, context):
        with context:
            return generate_decode(
                loaded.model, prompts, new_tokens=config.decode_new_tokens,
                device=loaded.device, repeats=config.repeats, generate_kwargs=kwargs,
                pad_token_id=getattr(loaded.tokenizer, "pad_token_id", None))

    if batch != 1:
        run = timed(option.generate_kwargs, option.active())
        metrics[key], spread[key] = run.tokens_per_second
        return
    side_by_side(lambda: timed({}, nullcontext()),
                 lambda: timed(option.generate_kwargs, option.active()),
                 metrics, spread, proposals=option.counts_proposals)


def side_by_side(default: Callable[[], GeneratedDecode], variant: Callable[[], GeneratedDecode],
                 metrics: dict, spread: dict, *, proposals: bool = False) -> None:
    """Time batch-1 decoding in the order default, variant, variant, default (a steady drift
    of the machine's speed cancels) and record the variant's rate, its speedup over the
    default, whether the two outputs match and, with `proposals`, its acceptance rate."""
    runs = [default(), variant(), variant(), default()]
    rates = [run.tokens_per_second[0] for run in runs]
    metrics["decode_tok_s_b1"] = (rates[1] + rates[2]) / 2
    spread["decode_tok_s_b1"] = max(runs[1].tokens_per_second[1], runs[2].tokens_per_second[1])
    metrics["decode_speedup_b1"] = (rates[1] + rates[2]) / (rates[0] + rates[3])
    metrics["output_matches"] = 1.0 if torch.equal(runs[0].output, runs[1].output) else 0.0
    if proposals:
        metrics["acceptance_rate"] = runs[1].acceptance_rate
