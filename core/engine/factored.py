"""Low-rank (factored) Linear layers, and bringing them back when a saved model is loaded.

A factorized model is a stock architecture with some Linear layers replaced by two thin
ones, which the architecture's own loader does not know. The technique that factorizes
(core.lowrank) records every replaced layer and its rank in the model config under
`optatlas_low_rank`; `save_pretrained` writes that record into config.json, and
`restore_factored` rebuilds those layers after `from_pretrained` and fills them from the
checkpoint's tensors. The module lives here, in the engine, so that loading never imports a
technique package (dependencies point one way: techniques -> engine)."""

from __future__ import annotations

import json
from pathlib import Path

import torch

RECORD = "optatlas_low_rank"


class LowRankLinear(torch.nn.Module):
    """x -> second(first(x)): a rank-r stand-in for an [out, in] Linear."""

    def __init__(self, in_features: int, out_features: int, rank: int, *, bias: bool,
                 device=None, dtype=None) -> None:
        super().__init__()
        self.in_features, self.out_features, self.rank = in_features, out_features, rank
        self.first = torch.nn.Linear(in_features, rank, bias=False, device=device, dtype=dtype)
        self.second = torch.nn.Linear(rank, out_features, bias=bias, device=device, dtype=dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.second(self.first(x))

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, rank={self.rank}"


def record_factored(model: torch.nn.Module, ranks: dict[str, int]) -> None:
    """Note in the model config which layers are factored, and at which rank."""
    record = dict(getattr(model.config, RECORD, None) or {})
    record.update(ranks)
    setattr(model.config, RECORD, record)


def factored_record(folder: str | Path) -> dict[str, int]:
    """The factored layers a saved model's config.json names (empty for a stock model)."""
    config = Path(folder) / "config.json"
    if not config.is_file():
        return {}
    return dict(json.loads(config.read_text()).get(RECORD) or {})


def _checkpoint_tensors(folder: Path, prefixes: tuple[str, ...], device) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    found: dict[str, torch.Tensor] = {}
    for path in sorted(folder.glob("*.safetensors")):
        for key, tensor in load_file(str(path), device=str(device)).items():
            if key.startswith(prefixes):
                found[key] = tensor
    return found


def restore_factored(model: torch.nn.Module, folder: str | Path) -> int:
    """Rebuild the factored layers named in the model's config and load their weights from
    the safetensors files in `folder`; returns how many were restored."""
    record = dict(getattr(model.config, RECORD, None) or {})
    if not record:
        return 0
    parameter = next(model.parameters())
    tensors = _checkpoint_tensors(Path(folder), tuple(f"{name}." for name in record),
                                  parameter.device)
    for name, rank in record.items():
        dense = model.get_submodule(name)
        layer = LowRankLinear(dense.in_features, dense.out_features, int(rank),
                              bias=dense.bias is not None, device=parameter.device,
                              dtype=parameter.dtype)
        state = {key.removeprefix(f"{name}."): value for key, value in tensors.items()
                 if key.startswith(f"{name}.")}
        missing = set(layer.state_dict()) - set(state)
        if missing:
            raise ValueError(f"the checkpoint lacks {sorted(missing)} of the factored layer {name}")
        layer.load_state_dict(state)
        parent_name, _, child = name.rpartition(".")
        setattr(model.get_submodule(parent_name) if parent_name else model, child, layer)
    return len(record)
