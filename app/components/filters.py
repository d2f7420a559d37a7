"""The sidebar's search box and facet filters."""

from __future__ import annotations

import streamlit as st

from taxonomy.catalog import SearchFilter
from taxonomy.vocabulary import GOAL_LABELS, HARDWARE_LABELS

_TRISTATE = {"Any": None, "Yes": True, "No": False}


def sidebar_filter() -> SearchFilter:
    """Draw the search controls in the sidebar and return what they ask for."""
    with st.sidebar:
        st.subheader("Find a technique")
        text = st.text_input(
            "Search",
            key="search_text",
            placeholder="e.g. outliers, KV cache, LoRA",
            help="Matches names, summaries, tags, libraries and cited paper titles.",
        )
        goals = st.multiselect(
            "Goal", list(GOAL_LABELS), key="filter_goals", format_func=GOAL_LABELS.__getitem__
        )
        hardware = st.multiselect(
            "Hardware",
            list(HARDWARE_LABELS),
            key="filter_hardware",
            format_func=HARDWARE_LABELS.__getitem__,
        )
        calibration = st.segmented_control(
            "Needs calibration data", list(_TRISTATE), key="filter_calibration", default="Any"
        )
        training = st.segmented_control(
            "Needs training", list(_TRISTATE), key="filter_training", default="Any"
        )
    return SearchFilter(
        text=text.strip(),
        goals=frozenset(goals),
        hardware=frozenset(hardware),
        needs_calibration=_TRISTATE.get(calibration or "Any"),
        needs_training=_TRISTATE.get(training or "Any"),
    )
