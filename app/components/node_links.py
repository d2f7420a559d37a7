"""A list of nodes, each a one-click link to its details with a line of context below."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import streamlit as st

from app import selection
from taxonomy.catalog import TechniqueView


def render(
    nodes: Iterable[TechniqueView],
    *,
    key_prefix: str,
    icon: str,
    describe: Callable[[TechniqueView], str],
) -> None:
    """One tertiary button per node (it opens the node) and `describe(node)` as a caption."""
    for node in nodes:
        st.button(
            node.name,
            key=f"{key_prefix}-{node.slug}",
            type="tertiary",
            icon=icon,
            on_click=selection.select,
            args=(node.slug,),
        )
        st.caption(describe(node))
