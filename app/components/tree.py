"""The taxonomy as an expandable hierarchy: families and categories expand, methods open."""

from __future__ import annotations

import streamlit as st

from app import selection
from taxonomy.catalog import Catalog, TechniqueView

OVERVIEW_LABEL = "Overview"


def _icon(node: TechniqueView) -> str:
    if not node.is_leaf:
        return ":material/account_tree:"
    return ":material/play_circle:" if node.runnable_recipe else ":material/menu_book:"


def _node_button(node: TechniqueView, selected: str | None, *, label: str | None = None) -> None:
    label = label or node.name
    if node.slug == selected:
        label = f"**{label}**"
    st.button(
        label,
        key=f"tree-{node.slug}",
        icon=":material/info:" if not node.is_leaf else _icon(node),
        type="tertiary",
        on_click=selection.select,
        args=(node.slug,),
        help="Runnable in OptAtlas" if node.runnable_recipe else None,
    )


def _branch(
    catalog: Catalog,
    node: TechniqueView,
    *,
    selected: str | None,
    open_slugs: set[str],
    visible: set[str],
) -> None:
    for child in catalog.children(node.slug):
        if child.slug not in visible:
            continue
        if child.is_leaf:
            _node_button(child, selected)
            continue
        _folder(catalog, child, _icon(child), selected=selected, open_slugs=open_slugs,
                visible=visible)


def _folder(catalog: Catalog, node: TechniqueView, icon: str, *, selected: str | None,
            open_slugs: set[str], visible: set[str]) -> None:
    # A branch folds into an expander; its first entry opens the branch's own page.
    with st.expander(node.name, expanded=node.slug in open_slugs, icon=icon):
        _node_button(node, selected, label=OVERVIEW_LABEL)
        _branch(catalog, node, selected=selected, open_slugs=open_slugs, visible=visible)


def render(
    catalog: Catalog, *, selected: str | None, visible: set[str], searching: bool
) -> None:
    """Draw the tree, limited to `visible` (a search's hits and their ancestors)."""
    # Open the branches leading to the selected node, and every branch while a search runs.
    open_slugs = set(visible) if searching else set()
    if selected and catalog.get(selected):
        open_slugs.update(a.slug for a in catalog.ancestors(selected))
        open_slugs.add(selected)
    for slug in catalog.roots:
        family = catalog.nodes[slug]
        if slug not in visible:
            continue
        _folder(catalog, family, ":material/hub:", selected=selected, open_slugs=open_slugs,
                visible=visible)
