"""prompt-lookup-decoding: speculative decoding without a draft model. The drafts are the
tokens that followed the latest match of the last n-gram in the prompt, verified by the
model in one forward call (transformers' prompt lookup in `generate`). No weight changes:
applying the config attaches a decoding option (core.engine.decoding) that the engine's
decode timing runs."""

from __future__ import annotations

import torch

from core.engine.decoding import DecodingOption, set_decoding
from core.recipes.inference import PromptLookupConfig
from core.techniques.context import ApplyContext, ApplyReport
from core.techniques.registry import register


@register(PromptLookupConfig)
def apply_prompt_lookup(model: torch.nn.Module, config: PromptLookupConfig,
                        context: ApplyContext) -> ApplyReport:
    """Make the engine decode `model` with prompt-lookup drafts (no draft model)."""
    label = (f"prompt-lookup decoding ({config.lookup_tokens} tokens after a match of up to "
             f"{config.max_ngram} tokens)")
    set_decoding(model, DecodingOption(
        label=label,
        generate_kwargs={"prompt_lookup_num_tokens": config.lookup_tokens,
                         "max_matching_ngram_size": config.max_ngram},
        max_batch=1, counts_proposals=True,
        notes=("acceptance_rate: proposed tokens counted at the lookup, accepted = new tokens "
               "- verifying forward calls of the target",)))
    context.report("prompt-lookup-decoding", 1.0)
    return ApplyReport(
        config.recipe, config.execution, 0, {"decoding": label, "weights_changed": 0}
    )
