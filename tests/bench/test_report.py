"""bench.report: the aligned table every bench script prints and the JSON rows it writes."""

from __future__ import annotations

import json
import math

from bench import report

ROWS = [
    {"name": "fp32", "ppl": 12.3456, "stored_bytes": 3 * 2**20, "execution": "real",
     "protocol": {"windows": 16}},
    {"name": "rtn_w4_g64", "ppl": math.nan, "stored_bytes": None, "execution": "simulated",
     "protocol": {"windows": 16, "spread": [1.0, math.inf]}},
]


def test_table_aligns_names_left_and_cells_right():
    lines = report.format_table(ROWS, ("ppl", "stored_bytes", "execution")).splitlines()
    assert lines[0].split() == ["row", "ppl", "stored_bytes", "execution"]
    assert lines[1].startswith("fp32 ") and lines[2].startswith("rtn_w4_g64")
    # Every column ends where its header does: right-aligned under it.
    for header in ("ppl", "stored_bytes", "execution"):
        end = lines[0].index(header) + len(header)
        assert all(line[end - 1] != " " for line in lines)
        assert all(len(line) == end or line[end] == " " for line in lines)


def test_table_writes_metrics_as_the_engine_does_and_missing_values_as_a_dash():
    table = report.format_table(ROWS, ("ppl", "stored_bytes", "execution"))
    assert "12.35" in table and "3.00 MiB" in table
    assert "—" in table.splitlines()[2] and "simulated" in table


def test_table_takes_headers_formats_and_the_first_header():
    rows = [{"name": "decode_b1", "rate": 41.234}, {"name": "eval"}]
    table = report.format_table(rows, ("rate",), headers={"rate": "tok/s"},
                                formats={"rate": report.fixed(1)}, first="variant")
    assert table.splitlines() == ["variant    tok/s", "decode_b1   41.2", "eval           —"]


def test_print_measured_adds_execution_and_the_protocol(capsys):
    report.print_measured(ROWS, ("ppl",))
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["row", "ppl", "execution"]
    assert lines[-1] == "protocol: {'windows': 16}"


def test_json_rows_round_trip_with_nan_as_null(tmp_path, capsys):
    path = tmp_path / "rows.json"
    report.write_json(ROWS, path)
    written = json.loads(path.read_text())
    assert written[0] == ROWS[0]
    assert written[1]["ppl"] is None and written[1]["stored_bytes"] is None
    assert written[1]["protocol"] == {"windows": 16, "spread": [1.0, None]}
    assert "NaN" not in path.read_text() and "Infinity" not in path.read_text()
    assert capsys.readouterr().err.strip() == f"wrote 2 rows to {path}"


def test_no_json_path_writes_nothing(tmp_path, capsys):
    report.write_json(ROWS, None)
    assert list(tmp_path.iterdir()) == [] and capsys.readouterr().err == ""


def test_parser_has_the_json_option_and_the_docstrings_first_line():
    parser = report.parser("The title.\n\n    usage lines\n")
    assert parser.description == "The title."
    assert parser.parse_args(["--json", "out.json"]).json.name == "out.json"
    assert parser.parse_args([]).json is None
