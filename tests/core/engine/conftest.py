"""Engine fixtures: tiny random models on every device this machine has."""

from __future__ import annotations

import pytest
import torch

from core.engine.models import load_model

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture(params=DEVICES)
def device(request) -> str:
    """Each test that takes it runs on CPU, and on CUDA where there is a GPU."""
    return request.param


@pytest.fixture
def tiny(device):
    """A tiny random Llama with a byte tokenizer, on `device`."""
    return load_model("tiny", device=device)
