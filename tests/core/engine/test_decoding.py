"""A decoding option attaches to a model without touching its weights, and options stack."""

from __future__ import annotations

from contextlib import contextmanager

import pytest

from core.engine.decoding import DecodingOption, decoding_option, set_decoding
from core.engine.memory import stored_bytes


def test_an_option_adds_nothing_to_the_model_and_can_be_removed(tiny):
    before = (stored_bytes(tiny.model), set(tiny.model.state_dict()))
    set_decoding(tiny.model, DecodingOption("static cache", {"cache_implementation": "static"}))
    assert decoding_option(tiny.model).label == "static cache"
    assert (stored_bytes(tiny.model), set(tiny.model.state_dict())) == before
    set_decoding(tiny.model, None)
    assert decoding_option(tiny.model) is None


def test_options_merge_arguments_limits_and_contexts(tiny):
    entered = []

    def context(name):
        @contextmanager
        def enter():
            entered.append(name)
            yield

        return enter

    set_decoding(tiny.model, DecodingOption("a", {"x": 1}, forward_context=context("a")))
    set_decoding(tiny.model, DecodingOption("b", {"y": 2}, forward_context=context("b"),
                                            max_batch=1, counts_proposals=True))
    option = decoding_option(tiny.model)
    assert option.label == "a + b" and option.generate_kwargs == {"x": 1, "y": 2}
    assert option.max_batch == 1 and option.counts_proposals
    assert not option.supports_batch(8)
    with option.active():
        pass
    assert entered == ["a", "b"]
    set_decoding(tiny.model, None)


def test_an_option_needs_a_label(tiny):
    with pytest.raises(ValueError, match="label"):
        set_decoding(tiny.model, DecodingOption(""))
