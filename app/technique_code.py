"""The code behind a technique's page: the file that implements its recipe and the central
function read from it (core.recipes.handler_source does the finding, without torch)."""

from __future__ import annotations

import streamlit as st

from core.recipes import config_types
from core.recipes.handler_source import HandlerCode, handler_code


@st.cache_data(show_spinner=False)
def code_for(recipe: str | None) -> HandlerCode | None:
    """The recipe's central function as installed, or None for no recipe or no file."""
    config_type = config_types().get(recipe) if recipe else None
    return handler_code(recipe, config_type) if config_type else None


def render(recipe: str | None) -> None:
    """Name the file that implements `recipe` and show its central function, collapsed."""
    code = code_for(recipe)
    if code is None:
        return
    st.markdown("##### The code")
    entry = (f"; the job runner calls `{code.handler}` there" if code.handler
             and code.handler != code.name else "")
    st.markdown(f"Implemented in `{code.path}`{entry}. Its central "
                f"{'class' if code.source.lstrip().startswith('class') else 'function'}, "
                f"`{code.name}`, lines {code.first_line}-{code.last_line}:")
    with st.expander(f"{code.name} ({code.path})", expanded=False, icon=":material/code:"):
        st.code(code.source, language="python", line_numbers=True)
