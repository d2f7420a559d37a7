"""The gallery on the command line: `check` validates it, `seed` loads it, `gallery build`
refuses unknown runs with the names it knows."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from app.cli import main
from core.gallery import record
from db.engine import make_engine, transaction
from db.job_models import Result
from tests.core.gallery.test_seed import _run


def test_check_validates_the_gallery_file(tmp_path, monkeypatch, capsys):
    path = tmp_path / "runs.json"
    monkeypatch.setattr(record, "DEFAULT_PATH", path)
    record.write_gallery(record.GalleryFile(runs=[_run("baseline")]), path)
    assert main(["check"]) == 0
    out = capsys.readouterr().out
    assert "OK: gallery of 1 measured runs" in out and re.search(r"OK: \d+ labs", out)
    path.write_text('{"schema_version": 1, "runs": [{"name": "Bad Name"}]}')
    assert main(["check"]) == 1
    assert "INVALID: gallery file" in capsys.readouterr().out


def test_seed_loads_the_gallery_once(isolated_home, tmp_path, monkeypatch, capsys):
    path = tmp_path / "runs.json"
    monkeypatch.setattr(record, "DEFAULT_PATH", path)
    record.write_gallery(record.GalleryFile(runs=[_run("baseline")]), path)
    assert main(["seed"]) == 0 and main(["seed"]) == 0
    out = capsys.readouterr().out
    assert "Gallery: 1 measured runs (1 added" in out and "1 unchanged)" in out
    with transaction(make_engine()) as session:
        assert session.scalar(select(func.count()).select_from(Result)
                              .where(Result.gallery_run.is_not(None))) == 1


def test_build_refuses_an_unknown_run_by_name(capsys, tmp_path):
    assert main(["gallery", "build", "--only", "rtn-2bit", "--out",
                 str(tmp_path / "runs.json")]) == 2
    assert "no gallery run(s) rtn-2bit; known: baseline" in capsys.readouterr().err
