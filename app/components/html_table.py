"""Tables built as HTML, for cells that hold links and lists (a data grid shows both as
plain text): every text escaped, only web addresses linked, and the table fits its column."""

from __future__ import annotations

from html import escape

TABLE_CLASS = "optatlas-table"
# Tables we build fit their column: fixed layout at full width, and long words wrap, so
# nothing scrolls sideways (a data grid sizes columns to their content and does).
TABLE_STYLE = (
    f"<style>.{TABLE_CLASS} {{ width: 100%; table-layout: fixed; border-collapse: collapse; "
    "font-size: 0.9rem; } "
    f".{TABLE_CLASS} th, .{TABLE_CLASS} td {{ text-align: left; vertical-align: top; "
    "padding: 0.35rem 0.5rem; border-bottom: 1px solid rgba(128, 128, 128, 0.3); "
    "overflow-wrap: anywhere; } "
    f".{TABLE_CLASS} ul {{ margin: 0; padding-left: 1.1rem; }}</style>"
)
MISSING = "—"


def html_link(label: str, url: str) -> str:
    """`label` as a link opening in a new tab; plain text when `url` is not a web address."""
    if not url.startswith(("https://", "http://")):
        return escape(label)
    return f'<a href="{escape(url)}" target="_blank" rel="noopener">{escape(label)}</a>'


def html_list(items: list[str]) -> str:
    """Cells that hold several things show them as bullets (`items` are HTML already)."""
    if not items:
        return MISSING
    return "<ul>" + "".join(f"<li>{item}</li>" for item in items) + "</ul>"


def html_table(
    header: list[str],
    rows: list[list[str]],
    *,
    row_headers: bool = False,
    widths: list[int] | None = None,
) -> str:
    """A table that fits its column; `header` is text, `rows` hold HTML cells, `widths`
    are the columns' shares in percent (equal when not given)."""
    columns = "".join(f'<col style="width: {share}%">' for share in widths or [])
    head = "".join(f'<th scope="col">{escape(title)}</th>' for title in header)
    body = []
    for row in rows:
        cells = [f'<th scope="row">{row[0]}</th>' if row_headers else f"<td>{row[0]}</td>"]
        cells += [f"<td>{cell}</td>" for cell in row[1:]]
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (f'{TABLE_STYLE}<table class="{TABLE_CLASS}"><colgroup>{columns}</colgroup>'
            f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>")
