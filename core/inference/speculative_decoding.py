"""Speculative decoding through transformers' assisted generation: a small draft model
proposes tokens, the target verifies them all in one forward pass and keeps the agreeing
prefix plus one token of its own. With greedy decoding the output must equal the target's
own greedy output token for token; what changes is speed.

Applying the config builds the draft (a copy of the target without its least important
decoder layers, or a separate model sharing its tokenizer) and attaches a decoding option
(core.engine.decoding); the engine then times decoding with it beside the default, checks
the outputs match, and counts proposed and accepted tokens (core.engine.speed)."""

from __future__ import annotations

import copy

import torch

from core.engine.decoding import DecodingOption, set_decoding
from core.engine.memory import stored_bytes
from core.engine.model_refs import ModelNotFoundError
from core.engine.models import load_model
from core.pruning.layer_drop import apply_layer_drop
from core.quantization.capture import decoder_layers
from core.recipes.base import InvalidRecipeError
from core.recipes.inference import SpeculativeDecodingConfig
from core.recipes.pruning import LayerDropConfig
from core.recipes.shape_rules import draft_layers_kept
from core.techniques.context import ApplyContext, ApplyReport
from core.techniques.registry import register


def _draft_cut_from(model: torch.nn.Module, config: SpeculativeDecodingConfig,
                    context: ApplyContext) -> tuple[torch.nn.Module, str]:
    """A copy of the target without its least important decoder layers."""
    draft = copy.deepcopy(model)
    set_decoding(draft, None)  # the copy must not carry the target's own decoding option
    total = len(decoder_layers(draft))
    kept, problem = draft_layers_kept(total, config.draft_layers_kept)
    if problem:
        raise InvalidRecipeError(problem)
    # The first and last layers stay whenever the draft keeps two or more.
    protect_ends = kept >= 2
    report = apply_layer_drop(draft, LayerDropConfig(
        fraction=(total - kept) / total, keep_first_and_last=protect_ends,
        calibration_samples=config.calibration_samples), context)
    return draft, (f"the target with {report.modules} of its {total} decoder layers removed "
                   "(least important first)")


def _draft_loaded(model: torch.nn.Module, config: SpeculativeDecodingConfig,
                  context: ApplyContext) -> tuple[torch.nn.Module, str]:
    """A separate, smaller model; it must speak the target's vocabulary."""
    dtype = next(model.parameters()).dtype
    try:
        loaded = load_model(config.draft_model, device=str(context.device),
                            dtype=str(dtype).removeprefix("torch."))
    except ModelNotFoundError as error:
        raise InvalidRecipeError(f"the draft model could not be loaded: {error}") from None
    target_vocabulary = model.config.get_text_config().vocab_size
    draft_vocabulary = loaded.model.config.get_text_config().vocab_size
    if draft_vocabulary != target_vocabulary:
        raise InvalidRecipeError(
            f"the draft model's vocabulary ({draft_vocabulary} tokens) differs from the "
            f"target's ({target_vocabulary}): a draft must share the target's tokenizer")
    return loaded.model, loaded.spec.label


@register(SpeculativeDecodingConfig)
def apply_speculative(model: torch.nn.Module, config: SpeculativeDecodingConfig,
                      context: ApplyContext) -> ApplyReport:
    """Make the engine decode `model` through assisted generation with a draft model."""
    context.report("speculative-decoding", 0.0)
    build = _draft_loaded if config.draft_model else _draft_cut_from
    draft, described = build(model, config, context)
    draft.eval()
    # transformers reads the proposal length and its schedule from the draft's own
    # generation config.
    draft.generation_config = copy.deepcopy(draft.generation_config)
    draft.generation_config.num_assistant_tokens = config.draft_tokens
    draft.generation_config.num_assistant_tokens_schedule = config.schedule
    draft_bytes = stored_bytes(draft)
    set_decoding(model, DecodingOption(
        label=f"speculative decoding, draft: {described}, {config.draft_tokens} tokens "
              f"proposed ({config.schedule})",
        generate_kwargs={"assistant_model": draft}, max_batch=1, counts_proposals=True,
        notes=(f"the draft holds {draft_bytes / 2**20:.1f} MiB beside the target (not counted "
               "in stored_bytes); acceptance_rate: tokens the draft proposed, counted as it "
               "proposed them, and accepted = new tokens - verifying forward calls of the "
               "target",)))
    context.report("speculative-decoding", 1.0)
    return ApplyReport(config.recipe, config.execution, 0, {
        "draft": described, "draft_stored_bytes": draft_bytes, "weights_changed": 0})
