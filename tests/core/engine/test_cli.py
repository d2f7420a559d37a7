"""`optatlas measure` prints a table, writes JSON rows, and turns bad input into one line."""

from __future__ import annotations

import json

from app.cli import main


def test_measure_writes_rows_in_the_metric_vocabulary(tmp_path, capsys):
    out = tmp_path / "result.json"
    code = main(["measure", "--model", "tiny", "--seq-len", "64", "--windows", "2",
                 "--json", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "ppl" in printed and "decode_tok_s_b8" in printed and "protocol:" in printed
    rows = json.loads(out.read_text())
    assert rows[0]["name"] == "baseline" and rows[0]["ppl"] > 1


def test_measure_explains_an_unknown_model(capsys):
    code = main(["measure", "--model", "/no/such/folder"])
    assert code == 2
    assert "does not exist" in capsys.readouterr().err
