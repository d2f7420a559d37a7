"""Text from users (job labels, model names, URL parameters) placed inside Markdown: shown as
typed, never as links, emphasis or markup, and cut to a readable length."""

from __future__ import annotations

import re

_MARKDOWN_SIGNIFICANT = re.compile(r"([\\`*_\[\]()<>#!|~$])")


def plain(text: object, limit: int | None = None) -> str:
    """`text` cut to `limit` characters (with an ellipsis) and escaped for Markdown."""
    value = " ".join(str(text).split())  # newlines and tabs would start new blocks
    if limit is not None and len(value) > limit:
        value = value[: limit - 1] + "…"
    return _MARKDOWN_SIGNIFICANT.sub(r"\\\1", value)
