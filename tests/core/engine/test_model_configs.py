"""A model's config.json without its weights: from the local Hugging Face cache, from the
Hub (here a local stand-in that answers like it), and "could not check" told apart from
"no such model"."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from core.engine.model_configs import forget_hub_answers, lookup_config
from core.engine.model_refs import parse_model_ref


@pytest.fixture(autouse=True)
def fresh_answers(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    forget_hub_answers()
    yield
    forget_hub_answers()


def _cache_config(root, repo: str, config: dict) -> None:
    folder = root / f"models--{repo.replace('/', '--')}"
    snapshot = folder / "snapshots" / "0123abc"
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text(json.dumps(config))
    (folder / "refs").mkdir()
    (folder / "refs" / "main").write_text("0123abc")


class _NoSuchRepo(BaseHTTPRequestHandler):
    """Answers every request as the Hub answers one for a repository that does not exist."""

    def _answer(self):
        body = b'{"error": "Repository not found"}'
        self.send_response(404)
        self.send_header("X-Error-Code", "RepoNotFound")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_HEAD = _answer

    def log_message(self, *args):
        pass


@pytest.fixture
def hub_without_the_repo(monkeypatch):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _NoSuchRepo)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{server.server_address[1]}")
    yield
    server.shutdown()


def test_a_cached_config_is_read_from_the_local_cache(tmp_path):
    _cache_config(tmp_path / "hf-cache", "org/cached", {"model_type": "llama", "hidden_size": 8})
    lookup = lookup_config(parse_model_ref("org/cached"))
    assert lookup.status == "cached" and lookup.config["hidden_size"] == 8


def test_a_model_the_hub_does_not_have_is_missing(hub_without_the_repo):
    lookup = lookup_config(parse_model_ref("nope/does-not-exist"))
    assert lookup.status == "missing" and "no such model" in lookup.detail


def test_an_unreachable_hub_is_not_taken_for_a_missing_model(monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # discard port: nothing listens
    lookup = lookup_config(parse_model_ref("org/anything"))
    assert lookup.status == "unreachable" and "unreachable" in lookup.detail
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    forget_hub_answers()
    assert "offline mode" in lookup_config(parse_model_ref("org/anything")).detail


def test_a_local_folder_with_a_broken_config_is_unreadable(tmp_path):
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "config.json").write_text("not json")
    assert lookup_config(parse_model_ref(str(tmp_path / "m"))).status == "unreadable"
