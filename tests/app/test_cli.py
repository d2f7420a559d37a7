"""`optatlas serve`'s executor options: refused with the reason before anything starts."""

from __future__ import annotations

import importlib.util

import pytest

from app.cli import main


@pytest.mark.parametrize(("args", "says"), [
    (["--ray-address", "10.0.0.1:6380"], "--ray-address only apply with --executor ray"),
    (["--cpus-per-job", "2", "--artifacts-dir", "/mnt/x"],
     "--cpus-per-job, --artifacts-dir only apply with --executor ray"),
    (["--executor", "ray", "--cpus-per-job", "0"], "--cpus-per-job must be more than 0"),
])
def test_serve_refuses_executor_options_that_cannot_work(args, says, capsys, isolated_home):
    assert main(["serve", *args]) == 2
    assert says in capsys.readouterr().err
    assert not (isolated_home / "executor.lock").exists()  # nothing was started


def test_serve_with_ray_says_how_to_install_it_where_it_is_missing(monkeypatch, capsys):
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *rest: None if name == "ray" else real_find_spec(name, *rest))
    assert main(["serve", "--executor", "ray"]) == 2
    assert "pip install 'optatlas[ray]'" in capsys.readouterr().err


def test_the_executor_says_how_to_install_ray_where_it_is_missing(monkeypatch, capsys):
    import builtins

    real_import = builtins.__import__

    def without_ray(name, *args, **kwargs):
        if name == "ray":
            raise ImportError("No module named 'ray'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", without_ray)
    assert main(["executor", "--ray"]) == 2
    assert "The Ray executor needs Ray: pip install 'optatlas[ray]'" in capsys.readouterr().err


def test_serve_with_ray_refuses_an_address_where_no_cluster_answers(capsys, isolated_home):
    pytest.importorskip("ray")
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    assert main(["serve", "--executor", "ray", "--ray-address", f"127.0.0.1:{port}"]) == 2
    assert f"no Ray cluster answers at 127.0.0.1:{port}" in capsys.readouterr().err
    assert not (isolated_home / "executor.lock").exists()


def test_check_validates_the_glossary_against_the_taxonomy(monkeypatch, capsys):
    import taxonomy.glossary as glossary_module

    assert main(["check"]) == 0
    assert "OK: glossary of " in capsys.readouterr().out
    broken = glossary_module.parse_glossary({"schema_version": 1, "terms": [{
        "slug": "kv-cache", "term": "KV cache", "nodes": ["no-such-node"],
        "definition": "The keys and values of earlier tokens, kept for the next ones."}]})
    monkeypatch.setattr(glossary_module, "load_glossary", lambda: broken)
    assert main(["check"]) == 1
    assert "term -> node that does not exist: kv-cache -> no-such-node" in capsys.readouterr().out
