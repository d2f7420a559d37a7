"""The page-time log benches read: off unless OPTATLAS_TIMING_LOG names a file, one line per
full page run, never an error for the page."""

from __future__ import annotations

from app import timing_log


def test_page_times_are_recorded_only_when_asked(tmp_path, monkeypatch):
    log = tmp_path / "times.log"
    monkeypatch.delenv(timing_log.ENV, raising=False)
    timing_log.record("jobs", 0.5)
    assert not log.exists()
    monkeypatch.setenv(timing_log.ENV, str(log))
    timing_log.record("", 0.25)  # the landing page (Explore) has an empty path
    timing_log.record("jobs", 0.125)
    assert timing_log.read(str(log)) == [("explore", 0.25), ("jobs", 0.125)]


def test_an_unwritable_log_never_breaks_a_page(tmp_path, monkeypatch):
    monkeypatch.setenv(timing_log.ENV, str(tmp_path / "missing-folder" / "times.log"))
    timing_log.record("jobs", 0.1)  # no exception
    assert timing_log.read(str(tmp_path / "missing-folder" / "times.log")) == []
