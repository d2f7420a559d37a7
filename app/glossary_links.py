"""Glossary terms in a node's prose as links: the first mention of each term on a page links
to its glossary entry, with the definition as the link's hover text.

Pure text in, Markdown out, so a test can read what a page will show without Streamlit.
"""

from __future__ import annotations

from taxonomy.glossary import Glossary, Term

# The glossary page's URL path (app.page_ids.GLOSSARY) and the parameter naming a term.
GLOSSARY_PATH = "glossary"
TERM_PARAM = "term"
# Hover text longer than this is cut at a word; the page has the whole definition.
HOVER_CHARS = 220


def term_url(slug: str) -> str:
    """The glossary entry's address, relative so that it works under any base URL path."""
    return f"{GLOSSARY_PATH}?{TERM_PARAM}={slug}"


def hover_text(term: Term) -> str:
    """The definition, short enough for a tooltip and safe inside a Markdown link title."""
    text = " ".join(term.definition.split())
    if len(text) > HOVER_CHARS:
        text = text[:HOVER_CHARS].rsplit(" ", 1)[0] + "…"
    return text.replace('"', "'")


def link_terms(text: str, glossary: Glossary, seen: set[str]) -> str:
    """`text` with the first mention of each term not in `seen` linked; adds those terms to
    `seen`, so that one page links a term once, where it first appears."""
    parts: list[str] = []
    end = 0
    for start, stop, slug in glossary.find(text):
        if slug in seen:
            continue
        seen.add(slug)
        mention = text[start:stop]
        parts += [text[end:start],
                  f'[{mention}]({term_url(slug)} "{hover_text(glossary.by_slug[slug])}")']
        end = stop
    parts.append(text[end:])
    return "".join(parts)


def terms_in(texts: list[str], glossary: Glossary) -> list[Term]:
    """Every term mentioned in `texts`, in order of first mention."""
    found: dict[str, Term] = {}
    for text in texts:
        for _, _, slug in glossary.find(text):
            found.setdefault(slug, glossary.by_slug[slug])
    return list(found.values())
