"""Explore: the tree, the sunburst, search and filters, and a node's details."""

from __future__ import annotations

import textwrap

import streamlit as st

from app import charts, page_ids, selection, services
from app.components import filters, node_links, technique_detail, tree
from taxonomy.catalog import Catalog, SearchFilter, TechniqueView

SUNBURST_KEY = "sunburst"
# The landing page's first steps use round-to-nearest: no calibration data, seconds to run.
START_TECHNIQUE = "rtn"


def _open_chart_selection() -> None:
    # Runs before the rerun: the clicked segment becomes the selected node.
    event = st.session_state.get(SUNBURST_KEY)
    points = (event or {}).get("selection", {}).get("points", [])
    if points:
        slug = selection.slug_from_chart_point(points[0])
        if slug:
            selection.select(slug)


def _overview_intro() -> None:
    st.header("An atlas of LLM inference optimizations", anchor=False)
    st.write(
        "OptAtlas maps the taxonomy of the survey *Inference Optimizations for Large "
        "Language Models: Effects, Challenges, and Practical Considerations* (Donisch, "
        "Schacht, Lanquillon, 2024, [arXiv:2408.03130](https://arxiv.org/abs/2408.03130)) "
        "and the established methods beside it, and runs them. **Read:** open a family in "
        "the tree or click a segment of the chart to see how a technique works, what it "
        "saves, what it costs and what its papers report. **Run:** launch a real "
        "compression job from a technique (**Launch**), follow it as it runs (**Jobs**), "
        "and compare the measured runs with the baseline model (**Results**)."
    )


def _start_here(catalog: Catalog) -> None:
    # Three clicks from nothing to a measured run, on a technique that needs no data.
    if catalog.get(START_TECHNIQUE) is None:
        return
    st.markdown("**Start here**")
    # One link a line: in columns their labels would be cut short.
    st.page_link(
        page_ids.EXPLORE.script,
        label="1. Read how round-to-nearest (RTN) quantization works",
        icon=":material/menu_book:",
        query_params={selection.TECHNIQUE_PARAM: START_TECHNIQUE},
    )
    st.page_link(
        page_ids.LAUNCH.script,
        label="2. Run it on a tiny random model, in seconds",
        icon=":material/rocket_launch:",
        query_params={"technique": START_TECHNIQUE, "model": "tiny"},
    )
    st.page_link(
        page_ids.RESULTS.script,
        label="3. See the run beside the baseline on Results",
        icon=":material/scatter_plot:",
    )


def _overview_counts(catalog: Catalog) -> None:
    columns = st.columns(3)
    columns[0].metric("Techniques", len(catalog.nodes))
    columns[1].metric("References", catalog.reference_count)
    columns[2].metric("Reported results", catalog.reported_result_count())


def _search_results(catalog: Catalog, query: SearchFilter) -> None:
    hits = catalog.matches(query)
    st.subheader(f"{len(hits)} matching {'node' if len(hits) == 1 else 'nodes'}", anchor=False)

    def describe(hit: TechniqueView) -> str:
        trail = " › ".join(a.name for a in catalog.ancestors(hit.slug))
        return f"{trail} — {textwrap.shorten(hit.summary, 180, placeholder=' …')}"

    node_links.render(hits, key_prefix="hit", icon=":material/arrow_forward:", describe=describe)


def _search_summary(catalog: Catalog, query: SearchFilter) -> None:
    hits = catalog.matches(query)
    if not hits:
        st.info("No technique matches this search. Loosen a filter or try other words.")
        return
    st.caption(f"{len(hits)} of {len(catalog.nodes)} nodes match.")


def _sunburst(catalog: Catalog, visible: set[str], node: TechniqueView | None) -> None:
    frame = charts.taxonomy_frame(catalog)
    frame = frame[frame["slug"].isin(visible)]
    if frame.empty:
        return
    st.plotly_chart(
        charts.taxonomy_sunburst(frame, highlight=node.slug if node else None),
        key=SUNBURST_KEY,
        on_select=_open_chart_selection,
        selection_mode="points",
        config={"displayModeBar": False},
    )


def render() -> None:
    """The Explore page."""
    catalog = services.get_catalog()
    query = filters.sidebar_filter()
    node = selection.current(catalog)
    visible = catalog.visible_slugs(query)
    tree_column, main_column = st.columns([1, 2.2], gap="large")
    with tree_column:
        st.subheader("Taxonomy", anchor=False)
        if not query.is_empty:
            _search_summary(catalog, query)
        tree.render(
            catalog,
            selected=node.slug if node else None,
            visible=visible,
            searching=not query.is_empty,
        )
    with main_column:
        landing = node is None and query.is_empty
        if landing:
            _overview_intro()
            _start_here(catalog)
        _sunburst(catalog, visible, node)
        if landing:
            _overview_counts(catalog)
        elif node is None:
            _search_results(catalog, query)
        else:
            technique_detail.render(catalog, node)
