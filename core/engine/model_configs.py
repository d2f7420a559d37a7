"""A model's config.json, found without loading the model: the bundled and tiny models'
shapes are known, a local folder has its file, a Hub model has it in the local Hugging Face
cache or (where the Hub is reachable) fetches that one small file.

Torch-free. What could not be found is said in words, together with why, so that a launch
check can tell "no such model" apart from "could not be checked from here"."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from core.engine.model_refs import ModelSpec
from core.engine.model_shapes import BUNDLED_CONFIG, TINY_CONFIG
from core.engine.paths import models_dir

# A config.json is a few kilobytes; anything far larger is not one.
MAX_CONFIG_BYTES = 1_000_000
HUB_TIMEOUT_S = 5.0
# A Hub answer is reused for a while: the launch form re-checks on every edit.
HUB_ANSWER_TTL_S = 300.0
BUNDLED_CHECKPOINT = "smollm2-135m-instruct-from-gguf-q4_1"

# known/local/cached/hub: found there; exists: on the Hub, but its config could not be read;
# missing: there is no such model; unreachable: could not be asked; unreadable: not JSON.
Status = Literal["known", "local", "cached", "hub", "exists", "missing", "unreachable",
                 "unreadable"]


@dataclass(frozen=True)
class ConfigLookup:
    """Where a model's config came from, or why it could not be had."""

    status: Status
    config: dict | None = None
    detail: str = ""

    @property
    def found(self) -> bool:
        """True when the config was read."""
        return self.config is not None


_hub_answers: dict[tuple[str, str | None, str], tuple[float, ConfigLookup]] = {}


def read_config(path: Path) -> dict | None:
    """A config.json's contents, or None when it is unreadable or not a JSON object."""
    try:
        if path.stat().st_size > MAX_CONFIG_BYTES:
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) else None


def lookup_config(spec: ModelSpec, *, ask_hub: bool = True) -> ConfigLookup:
    """The config of the model `spec` names, from wherever it can be had without weights."""
    if spec.kind == "tiny":
        return ConfigLookup("known", dict(TINY_CONFIG), "the tiny random model")
    if spec.kind == "default":
        converted = read_config(models_dir() / BUNDLED_CHECKPOINT / "config.json")
        return ConfigLookup("known", converted or dict(BUNDLED_CONFIG), "the bundled model")
    if spec.kind == "local":
        config = read_config(Path(spec.name) / "config.json")
        if config is None:
            return ConfigLookup("unreadable", None, "its config.json is not a readable JSON object")
        return ConfigLookup("local", config, "the folder's config.json")
    return _hub_config(spec.name, spec.revision, ask_hub=ask_hub)


def _hub_config(name: str, revision: str | None, *, ask_hub: bool) -> ConfigLookup:
    from huggingface_hub import try_to_load_from_cache

    try:
        cached = try_to_load_from_cache(name, "config.json", revision=revision,
                                        cache_dir=hub_cache())
    except Exception:  # noqa: BLE001 - a malformed cache or id: treat as not cached
        cached = None
    if isinstance(cached, str):
        config = read_config(Path(cached))
        if config is not None:
            return ConfigLookup("cached", config, "the local Hugging Face cache")
    if not ask_hub:
        return ConfigLookup("unreachable", None, "it is not in the local Hugging Face cache")
    if hub_offline():
        return ConfigLookup("unreachable", None, "it is not in the local Hugging Face cache, "
                            "and offline mode (HF_HUB_OFFLINE) keeps the Hub from being asked")
    endpoint = os.environ.get("HF_ENDPOINT") or "https://huggingface.co"
    key = (name, revision, endpoint)
    stored = _hub_answers.get(key)
    if stored is not None and time.monotonic() - stored[0] < HUB_ANSWER_TTL_S:
        return stored[1]
    answer = _ask_hub(name, revision, endpoint)
    if answer.status == "unreachable":
        answer = ConfigLookup("unreachable", None,
                              f"it is not in the local Hugging Face cache and {answer.detail}")
    _hub_answers[key] = (time.monotonic(), answer)
    return answer


def _ask_hub(name: str, revision: str | None, endpoint: str) -> ConfigLookup:
    from huggingface_hub import HfApi, hf_hub_download
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    # One metadata request first: it fails at once when the Hub is unreachable, where a file
    # download would retry with back-off for half a minute.
    try:
        info = HfApi(endpoint=endpoint).model_info(name, revision=revision,
                                                   timeout=HUB_TIMEOUT_S)
    except GatedRepoError:
        return ConfigLookup("exists", None, "it is gated on the Hub: accept its terms and "
                            "log in (HF_TOKEN) on the machine that runs the job")
    except RevisionNotFoundError:
        return ConfigLookup("missing", None, f"the Hub has no revision {revision!r} of it")
    except RepositoryNotFoundError:
        return ConfigLookup("missing", None, "the Hugging Face Hub has no such model (or it "
                            "is private)")
    except HfHubHTTPError as error:
        return ConfigLookup("unreachable", None, f"the Hugging Face Hub answered with an error "
                            f"({_first_line(error)})")
    except Exception as error:  # noqa: BLE001 - any network failure means "could not check"
        return ConfigLookup("unreachable", None, f"the Hugging Face Hub is unreachable from "
                            f"here ({_first_line(error)})")
    files = [sibling.rfilename for sibling in (info.siblings or [])]
    if files and "config.json" not in files:
        return ConfigLookup("missing", None, "it has no config.json on the Hub: it is not a "
                            "transformers model")
    try:
        path = hf_hub_download(name, "config.json", revision=revision, endpoint=endpoint,
                               etag_timeout=HUB_TIMEOUT_S, cache_dir=hub_cache())
    except Exception as error:  # noqa: BLE001 - it exists; only its shapes go unchecked
        return ConfigLookup("exists", None, f"it exists on the Hub, but its config.json could "
                            f"not be read ({_first_line(error)})")
    config = read_config(Path(path))
    if config is None:
        return ConfigLookup("unreadable", None, "its config.json on the Hub is not a JSON object")
    return ConfigLookup("hub", config, "the Hugging Face Hub")


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0][:160] if text else type(error).__name__


def hub_cache() -> str:
    """The Hugging Face cache folder, read at call time as the Hub library would at import:
    HF_HUB_CACHE, else HF_HOME/hub, else ~/.cache/huggingface/hub."""
    if os.environ.get("HF_HUB_CACHE"):
        return os.environ["HF_HUB_CACHE"]
    home = os.environ.get("HF_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "huggingface")
    return os.path.join(home, "hub")


def hub_offline() -> bool:
    """True when offline mode keeps the Hub from being asked (read at call time: the Hub
    library reads it once at import, too early for callers that decide later)."""
    return any(os.environ.get(name, "").lower() in ("1", "true", "yes")
               for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def forget_hub_answers() -> None:
    """Drop remembered Hub answers (tests; a user who just logged in)."""
    _hub_answers.clear()
