"""What a user may name as a model, validated without loading anything (and without torch,
so the web app can check a model reference before it queues a job)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

DEFAULT_NAME = "SmolLM2-135M-Instruct"

# A Hugging Face id: an optional namespace and a name of letters, digits, '.', '_', '-'.
HUB_ID = re.compile(r"^(?:[A-Za-z0-9][\w.-]{0,95}/)?[A-Za-z0-9][\w.-]{0,95}$")
REVISION = re.compile(r"^[\w./-]{1,128}$")

SourceKind = Literal["default", "hub", "local", "tiny"]


class ModelNotFoundError(LookupError):
    """No model could be loaded from what the user named; the message says what was tried."""


@dataclass(frozen=True)
class ModelSpec:
    """What to load: the kind of source and its name (and revision, for Hub ids)."""

    kind: SourceKind
    name: str
    revision: str | None = None

    @property
    def key(self) -> str:
        """A stable identifier for caches keyed by model."""
        if self.kind == "hub":
            return f"hub:{self.name}@{self.revision or 'main'}"
        return f"{self.kind}:{self.name}"

    @property
    def label(self) -> str:
        """How the model is named to a person."""
        if self.kind == "default":
            return f"{DEFAULT_NAME} (bundled)"
        if self.kind == "hub" and self.revision:
            return f"{self.name}@{self.revision}"
        return self.name


def parse_model_ref(ref: str) -> ModelSpec:
    """Turn what a user typed into a validated ModelSpec, or say clearly what is wrong."""
    ref = (ref or "").strip()
    if ref in ("", "default"):
        return ModelSpec("default", "default")
    if ref == "tiny" or ref.startswith("tiny:"):
        if ref != "tiny" and not ref.removeprefix("tiny:").isdigit():
            raise ModelNotFoundError(f"{ref!r}: a tiny model is 'tiny' or 'tiny:SEED' (an integer)")
        return ModelSpec("tiny", ref)
    # A folder that exists is a local model, even when its name looks like a Hub id.
    if ref.startswith(("/", "./", "../", "~")) or Path(ref).is_dir():
        path = Path(ref).expanduser().resolve()
        if not path.is_dir():
            raise ModelNotFoundError(f"local model folder {str(path)!r} does not exist")
        if not (path / "config.json").is_file():
            raise ModelNotFoundError(
                f"{str(path)!r} is not a model folder: it has no config.json "
                "(save one with model.save_pretrained(folder))"
            )
        return ModelSpec("local", str(path))
    name, _, revision = ref.partition("@")
    if not HUB_ID.match(name) or ".." in name:
        raise ModelNotFoundError(
            f"{ref!r} is neither 'default', a local folder nor a Hugging Face id "
            "such as 'HuggingFaceTB/SmolLM2-135M-Instruct' (optionally '@revision')"
        )
    if revision and not REVISION.match(revision):
        raise ModelNotFoundError(f"revision {revision!r} of {name!r} is not a valid git revision")
    return ModelSpec("hub", name, revision or None)
