"""The chooser's hardware table: the shipped file loads with the figures a user relies on, and
each rule of the loader rejects a bad file with a message naming the device and the field."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from core.chooser.hardware import CAPABILITIES, HARDWARE_PATH, HardwareError, load_hardware

REQUIRED = ("laptop-cpu", "apple-m4", "apple-m4-max", "rtx-3090", "rtx-4090", "rtx-5090", "l4",
            "a10g", "a100-40gb", "a100-80gb", "h100-sxm", "h200", "b200", "mi300x")


def test_the_shipped_file_loads_in_file_order_with_every_required_device():
    devices = load_hardware()
    raw = yaml.safe_load(HARDWARE_PATH.read_text(encoding="utf-8"))
    assert list(devices) == [entry["key"] for entry in raw["devices"]]
    assert set(REQUIRED) <= set(devices)
    assert all(device.key == key for key, device in devices.items())


def test_the_figures_a_user_relies_on():
    devices = load_hardware()
    h100 = devices["h100-sxm"]
    assert (h100.memory_gib, h100.bandwidth_gb_s) == (80, 3350)
    # Dense, not NVIDIA's 2:4-sparsity figures (1979 bf16, 3958 fp8 on the H100 page).
    assert h100.peak_tflops("bf16") == 989.5 and h100.peak_tflops("fp8") == 1979
    assert devices["a100-80gb"].bandwidth_gb_s == 2039
    assert devices["a100-40gb"].bandwidth_gb_s == 1555
    assert devices["l4"].peak_tflops("bf16") == 121
    # GeForce: the FP32-accumulate rate, not the doubled FP16-accumulate one.
    assert devices["rtx-4090"].peak_tflops("bf16") == 165.2
    assert devices["laptop-cpu"].bandwidth_gb_s == 89.6


def test_fp8_is_on_hopper_ada_blackwell_and_cdna3_only():
    devices = load_hardware()
    assert devices["h100-sxm"].has("fp8") and devices["h100-sxm"].peak_tflops("fp8")
    for key in ("a100-40gb", "a100-80gb", "rtx-3090", "a10g"):
        assert not devices[key].has("fp8") and devices[key].peak_tflops("fp8") is None, key
    with_fp8 = {key for key, device in devices.items() if device.has("fp8")}
    assert with_fp8 == {"rtx-4090", "l4", "h100-sxm", "h200", "rtx-5090", "b200", "mi300x"}


def test_fp4_is_on_blackwell_only():
    devices = load_hardware()
    with_fp4 = {key for key, device in devices.items() if device.has("fp4")}
    blackwell = {key for key, device in devices.items() if device.architecture == "blackwell"}
    assert with_fp4 == blackwell == {"rtx-5090", "b200"}


def test_every_device_cites_a_source_and_unified_memory_has_no_host_link():
    for device in load_hardware().values():
        assert any(source.url.startswith("https://") for source in device.sources), device.key
        if device.kind == "gpu":
            assert device.host_link_gb_s in (32, 64), device.key
        else:
            assert device.host_link_gb_s is None, device.key


def test_the_default_file_is_cached_and_callers_cannot_change_the_cache():
    first = load_hardware()
    first.pop("h100-sxm")
    assert "h100-sxm" in load_hardware()
    assert load_hardware(HARDWARE_PATH)["h100-sxm"] is load_hardware()["h100-sxm"]


# --- The validation rules, one bad file each -------------------------------------------------

GOOD = {
    "key": "test-gpu", "name": "Test GPU", "kind": "gpu", "architecture": "hopper",
    "memory_gib": 80, "bandwidth_gb_s": 3350,
    "tflops": {"fp32": 67, "bf16": 989.5, "fp8": 1979, "fp4": 3958, "int8": 1979},
    "capabilities": ["bf16", "int8_tensor_cores", "fp8", "fp4", "sparse_2_4"],
    "power_w": 700, "host_link_gb_s": 64,
    "sources": [{"title": "Datasheet", "url": "https://example.com/datasheet.pdf"}],
    "note": "dense figures",
}


def _write(tmp_path: Path, devices: list, schema_version=1) -> Path:
    path = tmp_path / "hardware.yaml"
    path.write_text(yaml.safe_dump({"schema_version": schema_version, "devices": devices}),
                    encoding="utf-8")
    return path


def test_a_good_device_loads(tmp_path):
    device = load_hardware(_write(tmp_path, [GOOD]))["test-gpu"]
    assert device.capabilities == frozenset(CAPABILITIES)
    assert device.sources[0].url == "https://example.com/datasheet.pdf"


def _set(field, value):
    def change(entry):
        entry[field] = value
    return change


def _drop(field):
    return lambda entry: entry.pop(field)


def _tflops(**figures):
    def change(entry):
        entry["tflops"] = {k: v for k, v in {**entry["tflops"], **figures}.items()
                           if v is not None}
    return change


def _without_capability(name):
    return lambda entry: entry["capabilities"].remove(name)


@pytest.mark.parametrize(("change", "field"), [
    (_set("key", "H100_SXM"), "key"),
    (_set("kind", "tpu"), "kind"),
    (_drop("name"), "name"),
    (_set("color", "green"), "color"),
    (_set("memory_gib", 0), "memory_gib"),
    (_set("memory_gib", "80"), "memory_gib"),
    (_set("bandwidth_gb_s", -1), "bandwidth_gb_s"),
    (_set("bandwidth_gb_s", float("inf")), "bandwidth_gb_s"),
    (_tflops(tf32=494), "tflops"),
    (_tflops(fp8=0), "tflops.fp8"),
    (_set("tflops", {"fp8": 1979, "fp4": 3958, "int8": 1979}), "tflops"),
    (_set("capabilities", ["bf16", "avx512"]), "capabilities"),
    (_set("capabilities", ["bf16", "bf16"]), "capabilities"),
    (_tflops(fp8=None), "tflops"),                  # fp8 capability, no fp8 figure
    (_without_capability("fp8"), "capabilities"),   # fp8 figure, no fp8 capability
    (_tflops(fp4=None), "tflops"),
    (_without_capability("fp4"), "capabilities"),
    (_tflops(int8=None), "capabilities"),           # int8_tensor_cores without int8
    (_tflops(bf16=None), "capabilities"),           # bf16 capability without bf16
    (_set("sources", []), "sources"),
    (_set("sources", [{"title": "Datasheet"}]), "sources"),
    (_set("sources", [{"title": "Datasheet", "url": "http://example.com"}]), "sources.0.url"),
    (_set("power_w", 0), "power_w"),
    (_set("host_link_gb_s", -64), "host_link_gb_s"),
])
def test_each_rule_rejects_a_bad_device_naming_it_and_the_field(tmp_path, change, field):
    entry = copy.deepcopy(GOOD)
    change(entry)
    with pytest.raises(HardwareError) as raised:
        load_hardware(_write(tmp_path, [GOOD | {"key": "fine-gpu"}, entry]))
    message = str(raised.value)
    assert message.startswith("hardware.yaml: ")
    assert f"device {entry['key']!r}" in message
    assert f"{field}:" in message


def test_a_key_may_appear_only_once(tmp_path):
    with pytest.raises(HardwareError, match=r"device 'test-gpu': key: appears twice"):
        load_hardware(_write(tmp_path, [GOOD, GOOD]))


def test_a_device_without_a_key_is_named_by_its_position(tmp_path):
    entry = copy.deepcopy(GOOD)
    entry.pop("key")
    with pytest.raises(HardwareError, match=r"devices\[0\]: key: Field required"):
        load_hardware(_write(tmp_path, [entry]))


@pytest.mark.parametrize(("text", "fragment"), [
    ("schema_version: 2\ndevices: []\n", "schema_version must be 1"),
    ("devices: []\n", "schema_version must be 1"),
    ("schema_version: 1\ndevices: []\n", "devices must be a non-empty list"),
    ("schema_version: 1\ndevices: [1]\n", "devices[0]: expected a mapping"),
    ("schema_version: 1\ndevices: [{}]\nextra: 1\n", "unknown top-level fields ['extra']"),
    ("- a list\n", "expected a mapping at the top level"),
    ("schema_version: [1\n", "cannot be read as YAML"),
])
def test_a_malformed_file_is_rejected_naming_the_file(tmp_path, text, fragment):
    path = tmp_path / "hardware.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(HardwareError) as raised:
        load_hardware(path)
    assert str(raised.value).startswith("hardware.yaml: ")
    assert fragment in str(raised.value)
