"""How text a user typed appears inside a message: quoted, shortened, control characters
shown escaped, so that a 5,000-character or hostile input yields a readable one-line message."""

from __future__ import annotations

# Long enough to recognise what was typed; short enough to keep a message on one line.
QUOTE_LIMIT = 80


def quoted(text: object, limit: int = QUOTE_LIMIT) -> str:
    """`text` in quotes, at most `limit` characters of it, with control characters escaped."""
    value = str(text)
    shown = value if len(value) <= limit else value[: limit - 1] + "…"
    # repr escapes newlines, escapes and NULs; drop its own quotes and add ours.
    escaped = repr(shown)[1:-1]
    suffix = f" ({len(value):,} characters)" if len(value) > limit else ""
    return f"'{escaped}'{suffix}"


def has_control_characters(text: str) -> bool:
    """True when `text` holds a character below space (tab included) or DEL."""
    return any(ord(ch) < 32 or ord(ch) == 127 for ch in text)
