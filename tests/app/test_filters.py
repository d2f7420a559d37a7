"""The search and its facets live in the URL: shareable, restored, and safe from odd values."""

from __future__ import annotations

from app.components.filters import MAX_QUERY_CHARS, filter_from_params, params_from_filter
from taxonomy.catalog import SearchFilter


def test_url_parameters_become_a_search():
    query = filter_from_params({
        "q": ["kv cache"], "goal": ["memory,latency"], "hardware": ["cpu"],
        "calibration": ["no"], "training": ["YES"],
    })
    assert query == SearchFilter(
        text="kv cache", goals=frozenset({"memory", "latency"}), hardware=frozenset({"cpu"}),
        needs_calibration=False, needs_training=True,
    )


def test_repeated_parameters_are_read_too():
    query = filter_from_params({"goal": ["memory", "energy"]})
    assert query.goals == {"memory", "energy"}


def test_unknown_and_hostile_values_are_ignored():
    query = filter_from_params({
        "q": ["x" * 10_000], "goal": ["memory,<script>,speed"], "hardware": ["quantum"],
        "calibration": ["maybe"], "training": [""],
    })
    assert len(query.text) == MAX_QUERY_CHARS
    assert query.goals == {"memory"} and not query.hardware
    assert query.needs_calibration is None and query.needs_training is None
    assert filter_from_params({}) == SearchFilter()


def test_a_search_round_trips_through_the_url():
    query = SearchFilter(text="int4", goals=frozenset({"latency", "memory"}),
                         hardware=frozenset({"datacenter_gpu", "cpu"}), needs_calibration=True)
    params = params_from_filter(query)
    assert params == {"q": "int4", "goal": "memory,latency",
                      "hardware": "cpu,datacenter_gpu", "calibration": "yes"}
    assert filter_from_params({k: [v] for k, v in params.items()}) == query
    assert params_from_filter(SearchFilter()) == {}
