"""How a model generates: an inference-time option the engine honours when it times decoding.

Some techniques change no weight and no forward pass but the generation loop around it:
a static KV cache with a compiled forward, no KV cache at all, speculative decoding with a
draft model, prompt-lookup decoding. Such a technique attaches a `DecodingOption` to the
model with `set_decoding`; the engine then times decoding through transformers' `generate`
with the option's arguments (see core.engine.speed.generate_decode), and measures the same
model's default generation beside it, so the speedup is a side-by-side ratio. The option
lives here, in the engine, so the engine never imports the technique packages.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field

import torch

# A plain attribute, not a submodule: a draft model held here adds nothing to the target's
# parameters, state_dict or stored bytes (the draft's own bytes are reported beside them).
_ATTRIBUTE = "optatlas_decoding"


@dataclass
class DecodingOption:
    """Arguments for `generate`, and what the engine needs to know to time it fairly.

    `generate_kwargs` is merged into every timed generate call; `forward_context` (if any)
    is entered around them (a compiled forward is swapped in there, and out afterwards, so
    the quality pass and the cache measurements run the plain forward); `max_batch` is the
    largest batch the option supports (assisted generation decodes one sequence at a time);
    `counts_proposals` says whether an acceptance rate is meaningful."""

    label: str
    generate_kwargs: dict = field(default_factory=dict)
    forward_context: Callable[[], object] | None = None
    max_batch: int | None = None
    counts_proposals: bool = False
    notes: tuple[str, ...] = ()

    @contextmanager
    def active(self) -> Iterator[None]:
        """Enter the option's forward context, if it has one."""
        with (self.forward_context() if self.forward_context else nullcontext()):
            yield

    def supports_batch(self, batch: int) -> bool:
        return self.max_batch is None or batch <= self.max_batch


def set_decoding(model: torch.nn.Module, option: DecodingOption | None) -> None:
    """Make the engine time `model`'s decoding through `option`; None restores the default
    (the engine's own greedy loop)."""
    if option is None:
        model.__dict__.pop(_ATTRIBUTE, None)
        return
    if not option.label:
        raise ValueError("a decoding option needs a label (it names the option in results)")
    # A second option replaces the first: one generation loop at a time. Arguments merge so
    # that, say, a static cache stays on when speculative decoding is added after it.
    previous = decoding_option(model)
    if previous is not None:
        option = _merged(previous, option)
    setattr(model, _ATTRIBUTE, option)


def _merged(first: DecodingOption, second: DecodingOption) -> DecodingOption:
    limits = [limit for limit in (first.max_batch, second.max_batch) if limit is not None]
    contexts = [c for c in (first.forward_context, second.forward_context) if c is not None]

    @contextmanager
    def both():
        with (contexts[0]() if contexts else nullcontext()), \
                (contexts[1]() if len(contexts) > 1 else nullcontext()):
            yield

    return DecodingOption(
        label=f"{first.label} + {second.label}",
        generate_kwargs={**first.generate_kwargs, **second.generate_kwargs},
        forward_context=both if contexts else None,
        max_batch=min(limits) if limits else None,
        counts_proposals=first.counts_proposals or second.counts_proposals,
        notes=first.notes + second.notes,
    )


def decoding_option(model: torch.nn.Module) -> DecodingOption | None:
    """The model's decoding option, or None when it decodes the default way."""
    return getattr(model, _ATTRIBUTE, None)
