"""What every bench script shares: its command line's `--json PATH`, a readable table of its
rows, and the rows written as a JSON list.

A row is a dict in the shape DESIGN.md ("One vocabulary for metrics") names:
`{"name": <row name>, <metric>: <value>, ..., "execution": ..., "protocol": {...}}`.

    parser = report.parser(__doc__)                  # description and --json PATH
    args = parser.parse_args()
    report.progress(f"measured {name}")              # on stderr, beside the table
    report.print_table(rows, ("ppl", "kl", "execution"))
    report.print_measured(rows, ("ppl", "kl"))       # the same, then the protocol line
    report.write_json(rows, args.json)               # nothing without --json

Cells of a metric the engine names are written by `core.engine.metrics.format_value`, so the
tables read as the app and the CLI do; `formats` overrides a column's cell.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

Row = Mapping[str, Any]
Formatter = Callable[[Any], str]
MISSING = "—"  # what format_value writes for a missing value
GAP = "  "  # between columns


def parser(doc: str | None) -> argparse.ArgumentParser:
    """A bench script's parser: its docstring's first line as description, and `--json PATH`."""
    lines = (doc or "").strip().splitlines()
    result = argparse.ArgumentParser(prog=_prog(), description=lines[0] if lines else None)
    result.add_argument("--json", type=Path, metavar="PATH",
                        help="also write the rows here as a JSON list")
    return result


def _prog() -> str | None:
    """`python -m bench.<name>` for a bench script's usage line, as it is meant to be run."""
    script = Path(sys.argv[0])
    # Anything else (a test runner, say) keeps argparse's own name.
    return f"python -m bench.{script.stem}" if script.parent.name == "bench" else None


def progress(message: str) -> None:
    """One progress line on stderr, so that stdout carries only the results."""
    print(f"  {message}", file=sys.stderr, flush=True)


def cell(column: str, value: Any) -> str:
    """One table cell: an engine metric as format_value writes it, anything else plainly."""
    # Imported here, not at the top: bench.explore_render's child processes time the app's
    # cold start, which the engine's modules loaded along with this one would warm up.
    from core.engine.metrics import METRICS, format_value

    if value is None:
        return MISSING
    if column in METRICS and isinstance(value, (int, float)):
        return format_value(column, value)
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def fixed(digits: int) -> Formatter:
    """A cell format with `digits` decimals (a missing value as "—"), for a column whose
    numbers read better without a unit."""
    return lambda value: MISSING if value is None else f"{value:.{digits}f}"


def format_table(rows: Sequence[Row], columns: Sequence[str], *,
                 headers: Mapping[str, str] | None = None,
                 formats: Mapping[str, Formatter] | None = None, first: str = "row") -> str:
    """`rows` as an aligned text table: the row names left-aligned under `first`, then one
    right-aligned column per key in `columns`, headed by `headers` (default: the key) and
    written by `formats` (default: `cell`)."""
    headers, formats = headers or {}, formats or {}
    lines = [[first, *(headers.get(column, column) for column in columns)]]
    lines += [[str(row["name"]), *(_text(column, row.get(column), formats) for column in columns)]
              for row in rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    return "\n".join(_aligned(line, widths) for line in lines)


def _text(column: str, value: Any, formats: Mapping[str, Formatter]) -> str:
    """The cell of `column`: written by its own format where `formats` names one."""
    custom = formats.get(column)
    return custom(value) if custom else cell(column, value)


def _aligned(line: list[str], widths: list[int]) -> str:
    """One table line: the name left-aligned, every other cell right-aligned."""
    cells = [line[0].ljust(widths[0])] + [text.rjust(width)
                                          for text, width in zip(line[1:], widths[1:])]
    return GAP.join(cells).rstrip()


def print_table(rows: Sequence[Row], columns: Sequence[str], **options: Any) -> None:
    """Print `format_table(rows, columns, **options)`."""
    print(format_table(rows, columns, **options))


def print_measured(rows: Sequence[Row], columns: Sequence[str]) -> None:
    """Rows measured under one protocol: their table with an execution column, then the
    protocol (the first row's) on one line."""
    print_table(rows, (*columns, "execution"))
    print(f"protocol: {rows[0]['protocol'] if rows else {}}")


def json_safe(value: Any) -> Any:
    """`value` with every NaN or infinity turned into None, since JSON has no such numbers."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(item) for item in value]
    return value


def write_json(rows: Sequence[Row], path: Path | None) -> None:
    """Write `rows` to `path` as a JSON list (NaN as null) and say so on stderr; no path
    (no --json given) writes nothing."""
    if path is None:
        return
    path.write_text(json.dumps(json_safe(list(rows)), indent=2, allow_nan=False) + "\n")
    print(f"wrote {len(rows)} row{'' if len(rows) == 1 else 's'} to {path}", file=sys.stderr)
