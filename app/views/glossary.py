"""Glossary: every term a node page links, with its definition and the nodes to read next.

A link from a node page names its term (`?term=kv-cache`): that entry comes first, marked,
so a reader who clicked a word sees its definition at once.
"""

from __future__ import annotations

import streamlit as st

from app import glossary_links, page_ids, services
from app.markdown_text import plain
from taxonomy.catalog import Catalog
from taxonomy.glossary import Term
from taxonomy.vocabulary import searchable_text


def _entry(term: Term, catalog: Catalog, *, chosen: bool) -> None:
    with st.container(border=True):
        st.markdown(f"#### {term.term}" + (" :blue-badge[you came for this]" if chosen else ""))
        if term.aliases:
            st.caption("Also written: " + ", ".join(term.aliases))
        st.write(" ".join(term.definition.split()))
        nodes = [catalog.get(slug) for slug in term.nodes]
        for node in filter(None, nodes):
            st.page_link(page_ids.EXPLORE.script, label=f"Read: {node.name}",
                         icon=":material/menu_book:", query_params={"technique": node.slug})


def _matches(term: Term, query: str) -> bool:
    text = searchable_text(" ".join([term.term, *term.aliases, term.definition]))
    return all(word in text for word in searchable_text(query).split())


def render() -> None:
    """The Glossary page."""
    st.header("Glossary", anchor=False)
    st.caption("Terms the technique pages use, in plain words. On a technique's page, a "
               "term's first mention links here; hover it for a short definition.")
    try:
        glossary = services.get_glossary()
    except ValueError as error:
        st.error(f"The glossary file could not be read: {plain(error, 300)}")
        return
    catalog = services.get_catalog()
    wanted = st.query_params.get(glossary_links.TERM_PARAM)
    chosen = glossary.by_slug.get(wanted) if wanted else None
    if wanted and chosen is None:
        st.warning(f"The glossary has no term {plain(wanted, 60)}; every term is listed below.",
                   icon=":material/help:")
    query = st.text_input("Find a term", max_chars=100, placeholder="e.g. outlier, KV cache")
    if chosen is not None and not query:
        _entry(chosen, catalog, chosen=True)
    shown = [t for t in glossary.terms if _matches(t, query)] if query else list(glossary.terms)
    if query and not shown:
        st.info("No term matches; try fewer or other words.")
    st.caption(f"{len(shown)} of {len(glossary.terms)} terms")
    for term in shown:
        if term is chosen and not query:
            continue
        _entry(term, catalog, chosen=False)
