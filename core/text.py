"""How text a user typed appears inside a message: quoted, shortened, control characters
shown escaped, so that a 5,000-character or hostile input yields a readable one-line message."""

from __future__ import annotations

# Long enough to recognise what was typed; short enough to keep a message on one line.
QUOTE_LIMIT = 80


def shortened(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters, ending in "…" where it was cut.

    For names OptAtlas derives for display (a job's steps as its name), which must fit the
    column that stores them: PostgreSQL refuses a longer VARCHAR where SQLite kept it.
    Never for identifiers a user typed (a model reference): two cut ones could look the
    same, so those are refused with their limit instead."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def quoted(text: object, limit: int = QUOTE_LIMIT) -> str:
    """`text` in quotes, at most `limit` characters of it, with control characters escaped."""
    value = str(text)
    shown = shortened(value, limit)
    # repr escapes newlines, escapes and NULs; drop its own quotes and add ours.
    escaped = repr(shown)[1:-1]
    suffix = f" ({len(value):,} characters)" if len(value) > limit else ""
    return f"'{escaped}'{suffix}"


def has_control_characters(text: str) -> bool:
    """True when `text` holds a character below space (tab included) or DEL."""
    return any(ord(ch) < 32 or ord(ch) == 127 for ch in text)


def without_nul(text: str | None) -> str | None:
    """`text` with each NUL character written out as \\x00.

    For free text OptAtlas stores but does not check (error messages and logs, which may
    quote a file or a library's output): PostgreSQL's text cannot hold NUL where SQLite's
    can, and a job's failure must be recordable on both."""
    return None if text is None else text.replace("\x00", "\\x00")
