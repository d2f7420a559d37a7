"""Assisted generation reproduces the target's greedy output, whatever the draft; a draft
that is the target itself has every token accepted."""

from __future__ import annotations

import copy

import torch

from core.engine.models import load_model
from core.inference.speculative import compare_speculative
from core.pruning.structured import drop_layers

PROMPT = torch.randint(0, 257, (1, 12), generator=torch.Generator().manual_seed(0))


def test_a_weaker_draft_changes_speed_not_the_output():
    target = load_model("tiny:1").model
    draft = copy.deepcopy(target)
    drop_layers(draft, {1})
    result = compare_speculative(target, draft, PROMPT, new_tokens=16, repeats=1)
    assert result.output_matches and result.new_tokens == 16
    assert 0 <= result.acceptance_rate <= 1 and result.drafted > 0
    assert result.greedy_s > 0 and result.assisted_s > 0


def test_the_target_as_its_own_draft_has_everything_accepted():
    target = load_model("tiny:2").model
    result = compare_speculative(target, copy.deepcopy(target), PROMPT, new_tokens=16, repeats=1)
    assert result.output_matches
    assert result.acceptance_rate > 0.8
