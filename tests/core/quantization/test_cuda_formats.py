"""The CUDA-only packed formats: bitsandbytes NF4 and LLM.int8(), torchao int4 and FP8.

On any machine: their configs validate and round-trip, and applying them without a GPU (or
without the package) says what is missing. With a CUDA GPU and the package: the layers are
really replaced, stored bytes drop and the logits stay close to the float model's.
"""

from __future__ import annotations

import importlib.util
import re

import pytest
import torch

import core.quantization  # noqa: F401  (registers the quantizers)
from core.engine.memory import stored_bytes
from core.engine.models import load_model
from core.quantization.bnb_nf4 import apply_bnb_nf4
from core.quantization.fp8 import apply_fp8
from core.quantization.llm_int8 import to_bnb_int8
from core.quantization.targets import target_linears
from core.quantization.torchao_int4 import apply_torchao_int4, check_int4_group_size
from core.quantization.torchao_support import FP8_CAPABILITY, check_capability
from core.recipes import build_config, config_from_json
from core.recipes.base import InvalidRecipeError
from core.recipes.quantization import BnbNF4Config, FP8Config, TorchaoInt4Config
from core.techniques.context import ApplyContext
from core.techniques.registry import apply

CPU = ApplyContext(device=torch.device("cpu"))
PACKAGES = {"bnb-nf4": "bitsandbytes", "torchao-int4": "torchao", "fp8": "torchao"}


def _installed(package: str) -> bool:
    return importlib.util.find_spec(package) is not None


# --- everywhere --------------------------------------------------------------------------


@pytest.mark.parametrize("recipe, settings", [
    ("bnb-nf4", {"compute_dtype": "float16", "double_quant": False, "blocksize": 128,
                 "skip": ["lm_head", "down_proj"]}),
    ("torchao-int4", {"group_size": 32, "skip": []}),
    ("fp8", {"mode": "weight_only"}),
])
def test_configs_round_trip_through_json(recipe, settings):
    config = build_config(recipe, settings)
    assert config_from_json(config.to_json()) == config
    assert type(config).execution == "real"
    assert type(config).requirements.cuda and PACKAGES[recipe] in type(config).requirements.packages


def test_defaults_fit_the_bundled_models_width():
    assert BnbNF4Config().blocksize == 64 and BnbNF4Config().skip == ("lm_head",)
    assert 576 % TorchaoInt4Config().group_size == 0  # hidden size 576 = 9 x 64
    assert FP8Config().mode == "dynamic"


@pytest.mark.parametrize("recipe, settings, named", [
    ("bnb-nf4", {"blocksize": 48}, "blocksize"),
    ("bnb-nf4", {"compute_dtype": "float32"}, "compute_dtype"),
    ("bnb-nf4", {"quant_type": "fp4"}, "quant_type: Extra inputs are not permitted"),
    ("torchao-int4", {"group_size": 100}, "group_size"),
    ("fp8", {"mode": "int8"}, "mode"),
])
def test_bad_settings_are_named(recipe, settings, named):
    with pytest.raises(InvalidRecipeError, match=named):
        build_config(recipe, settings)


@pytest.mark.parametrize("recipe", sorted(PACKAGES))
def test_applying_without_a_gpu_says_what_is_missing(recipe):
    tiny = load_model("tiny", device="cpu")
    with pytest.raises(InvalidRecipeError, match="needs a CUDA GPU") as error:
        apply(tiny.model, build_config(recipe), CPU)
    package = PACKAGES[recipe]
    missing = f"needs the optional package {package!r}"
    assert (missing in str(error.value)) == (not _installed(package))
    assert type(tiny.model.model.layers[0].self_attn.q_proj) is torch.nn.Linear  # untouched


GPU = ApplyContext(device=torch.device("cuda"))  # what the caller claims; the model is not there


@pytest.mark.parametrize("convert", [
    lambda model: apply_bnb_nf4(model, BnbNF4Config(), GPU),
    lambda model: to_bnb_int8(model, threshold=6.0, skip=("lm_head",)),
    lambda model: apply_torchao_int4(model, TorchaoInt4Config(), GPU),
    lambda model: apply_fp8(model, FP8Config(), GPU),
], ids=["bnb-nf4", "bnb-int8", "torchao-int4", "fp8"])
def test_a_model_left_on_the_cpu_is_refused_before_anything_changes(convert):
    # The checks run before bitsandbytes or torchao is imported, so this holds without them.
    tiny = load_model("tiny", device="cpu")
    with pytest.raises(InvalidRecipeError, match="on cpu .*first: model.layers.0.self_attn.q_proj"):
        convert(tiny.model)
    assert all(type(layer) is torch.nn.Linear for layer in target_linears(tiny.model).values())


def test_int4_group_size_check_names_the_layers_that_do_not_fit():
    tiny = load_model("tiny", device="cpu")  # q/k/v/o/gate/up read 64 features, down_proj 128
    assert len(check_int4_group_size(tiny.model, 64)) == 14
    with pytest.raises(InvalidRecipeError) as error:
        check_int4_group_size(tiny.model, 128)
    message = str(error.value)
    assert "group_size 128 does not divide the input dimension of 12 layer(s)" in message
    assert "model.layers.0.self_attn.q_proj" in message and "(input dimension 64)" in message
    assert "down_proj" not in message  # 128 features: group 128 fits it
    assert "group sizes that fit every layer: 32, 64" in message
    with pytest.raises(InvalidRecipeError, match=r"down_proj \(input dimension 128\)"):
        check_int4_group_size(tiny.model, 256)


def test_int4_group_size_is_checked_before_the_device_or_torchao():
    tiny = load_model("tiny", device="cpu")
    with pytest.raises(InvalidRecipeError, match="group_size 128 does not divide"):
        apply_torchao_int4(tiny.model, TorchaoInt4Config(group_size=128), CPU)


def test_an_old_gpu_is_named_with_its_capability(monkeypatch):
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (8, 0))
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "NVIDIA A100-SXM4-80GB")
    with pytest.raises(ValueError, match=r"fp8 needs an NVIDIA GPU of compute capability 8\.9 "
                                         r"or newer; NVIDIA A100-SXM4-80GB has 8\.0"):
        check_capability(torch.device("cuda"), FP8_CAPABILITY, "fp8")
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (9, 0))
    check_capability(torch.device("cuda"), FP8_CAPABILITY, "fp8")  # Hopper passes


# --- on a CUDA GPU with the package ------------------------------------------------------

HAS_CUDA = torch.cuda.is_available()
needs_bnb = pytest.mark.skipif(not (HAS_CUDA and _installed("bitsandbytes")),
                               reason="needs a CUDA GPU and bitsandbytes")
needs_torchao = pytest.mark.skipif(not (HAS_CUDA and _installed("torchao")),
                                   reason="needs a CUDA GPU and torchao")
IDS = torch.randint(0, 256, (2, 48), generator=torch.Generator().manual_seed(0))


def _quantized(dtype: str, convert):
    """Logits before and after `convert` on the tiny model on CUDA, and the target layers'
    stored bytes before and after."""
    tiny = load_model("tiny", device="cuda", dtype=dtype)
    names = list(target_linears(tiny.model))
    dense = sum(stored_bytes(tiny.model.get_submodule(n)) for n in names)
    ids = IDS.to("cuda")
    with torch.no_grad():
        reference = tiny.model(ids).logits.float()
        result = convert(tiny.model)
        logits = tiny.model(ids).logits.float()
    packed = sum(stored_bytes(tiny.model.get_submodule(n)) for n in names)
    return tiny.model, names, result, reference, logits, packed / dense


def _close(reference: torch.Tensor, logits: torch.Tensor, tolerance: float) -> None:
    assert torch.isfinite(logits).all()
    assert (logits - reference).norm() / reference.norm() < tolerance
    assert (logits.argmax(-1) == reference.argmax(-1)).float().mean() > 0.8


@needs_bnb
@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_bnb_nf4_packs_the_layers(dtype):
    import bitsandbytes as bnb

    model, names, report, reference, logits, ratio = _quantized(
        dtype, lambda m: apply(m, build_config("bnb-nf4", {"compute_dtype": dtype}), GPU))
    assert (report.execution, report.modules) == ("real", 14)
    assert all(isinstance(model.get_submodule(n), bnb.nn.Linear4bit) for n in names)
    assert type(model.lm_head) is torch.nn.Linear
    assert ratio < 0.35  # 4 bits of 16 (stored_bytes does not see the scales; see the report)
    _close(reference, logits, 0.25)


@needs_bnb
def test_bnb_int8_replaces_the_layers_with_llm_int8_ones():
    import bitsandbytes as bnb

    model, names, count, reference, logits, ratio = _quantized(
        "float16", lambda m: to_bnb_int8(m, threshold=6.0, skip=("lm_head",)))
    assert count == 14
    assert all(isinstance(model.get_submodule(n), bnb.nn.Linear8bitLt) for n in names)
    assert model.get_submodule(names[0]).weight.dtype == torch.int8
    assert ratio < 0.55
    _close(reference, logits, 0.1)


@needs_torchao
@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_torchao_int4_packs_the_layers(dtype):
    if torch.cuda.get_device_capability() < (8, 0):
        pytest.skip("the tinygemm int4 kernel needs compute capability 8.0")
    from torchao.utils import TorchAOBaseTensor

    model, names, report, reference, logits, _ = _quantized(
        dtype, lambda m: apply(m, build_config("torchao-int4", {"group_size": 32}), GPU))
    assert (report.execution, report.modules) == ("real", 14)
    assert report.details["cast_to_bfloat16"] == (14 if dtype == "float16" else 0)
    assert all(isinstance(model.get_submodule(n).weight, TorchAOBaseTensor) for n in names)
    assert not isinstance(model.lm_head.weight, TorchAOBaseTensor)
    # The tiny model's 64-wide layers are padded to 1024 by torchao, so bytes are checked on
    # a model whose widths need no padding (below).
    _close(reference, logits, 0.25)


@needs_torchao
def test_torchao_int4_stores_a_quarter_of_bfloat16_bytes_when_no_padding_is_needed():
    if torch.cuda.get_device_capability() < (8, 0):
        pytest.skip("the tinygemm int4 kernel needs compute capability 8.0")
    model = torch.nn.Sequential(torch.nn.Linear(1024, 2048, bias=False), torch.nn.ReLU(),
                                torch.nn.Linear(2048, 1024, bias=False))
    model = model.to("cuda", torch.bfloat16)
    dense = stored_bytes(model)
    apply(model, build_config("torchao-int4", {"group_size": 128, "skip": []}), GPU)
    assert stored_bytes(model) < 0.3 * dense


@needs_torchao
@pytest.mark.parametrize("mode", ["weight_only", "dynamic"])
def test_fp8_stores_and_computes_in_float8(mode):
    if torch.cuda.get_device_capability() < FP8_CAPABILITY:
        tiny = load_model("tiny", device="cuda", dtype="bfloat16")
        with pytest.raises(InvalidRecipeError, match=re.escape(torch.cuda.get_device_name())):
            apply(tiny.model, build_config("fp8", {"mode": mode}), GPU)
        return
    from torchao.utils import TorchAOBaseTensor

    model, names, report, reference, logits, ratio = _quantized(
        "bfloat16", lambda m: apply(m, build_config("fp8", {"mode": mode}), GPU))
    assert (report.execution, report.modules, report.details["mode"]) == ("real", 14, mode)
    assert all(isinstance(model.get_submodule(n).weight, TorchAOBaseTensor) for n in names)
    assert ratio < 0.6  # 8 bits of 16, plus one scale per row
    _close(reference, logits, 0.1)


@needs_torchao
def test_fp8_dynamic_refuses_a_float32_model():
    if torch.cuda.get_device_capability() < FP8_CAPABILITY:
        pytest.skip("fp8 needs compute capability 8.9")
    tiny = load_model("tiny", device="cuda", dtype="float32")
    with pytest.raises(InvalidRecipeError, match="load the model with dtype bfloat16"):
        apply(tiny.model, build_config("fp8", {"mode": "dynamic"}), GPU)
