"""The chooser's model side: presets that count what the published models hold, and shapes
read from a config.json, mixtures of experts included."""

from __future__ import annotations

import pytest

from core.chooser.models import PRESETS, UnknownModelShape, model_from_config
from core.engine.model_shapes import BUNDLED_CONFIG


@pytest.mark.parametrize(("preset", "parameters"), [
    # The published models' own parameter counts.
    ("8B", 8_030_261_248),    # Llama-3.1-8B
    ("70B", 70_553_706_496),  # Llama-3.1-70B
    ("47B-MoE", 46_702_792_704),  # Mixtral-8x7B
])
def test_presets_count_the_parameters_of_the_models_they_name(preset, parameters):
    assert PRESETS[preset].parameters() == parameters


def test_a_mixture_of_experts_counts_the_experts_a_token_uses():
    mixtral = PRESETS["47B-MoE"]
    assert mixtral.is_moe and mixtral.active_parameters() == 12_879_925_248
    assert PRESETS["8B"].active_parameters() == PRESETS["8B"].parameters()


def test_a_config_json_gives_the_same_model_as_its_preset():
    llama = {"model_type": "llama", "hidden_size": 4096, "intermediate_size": 14336,
             "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8,
             "vocab_size": 128256, "tie_word_embeddings": False,
             "max_position_embeddings": 131072}
    assert model_from_config("mine", llama).parameters() == PRESETS["8B"].parameters()
    mixtral = {**llama, "model_type": "mixtral", "vocab_size": 32000, "num_local_experts": 8,
               "num_experts_per_tok": 2}
    read = model_from_config("mixtral", mixtral)
    assert (read.experts, read.active_experts) == (8, 2)
    assert read.parameters() == PRESETS["47B-MoE"].parameters()
    assert model_from_config("bundled", BUNDLED_CONFIG).parameters() == 134_515_008


def test_a_config_of_an_unknown_architecture_says_to_choose_a_preset():
    with pytest.raises(UnknownModelShape, match="choose a size preset"):
        model_from_config("odd", {"model_type": "rwkv", "hidden_size": 10})


def test_the_chooser_needs_no_torch():
    # A fresh interpreter: the web app answers from the chooser without loading the engine.
    import subprocess
    import sys
    from pathlib import Path

    # One whole answer (hardware and rules files, estimates, ranking) and the reader of this
    # machine's measurement, so lazily imported modules count too.
    code = ("import sys, core.chooser.memory as m, core.chooser.models as c; "
            "import core.chooser.this_machine; "
            "from core.chooser.hardware import load_hardware; "
            "from core.chooser.query import Hardware, Query, Workload; "
            "from core.chooser.rank import choose; from core.chooser.rules import default_rules; "
            "m.weight_bytes(c.PRESETS['8B'], m.WeightFormat(bits=4, group_size=128)); "
            "choose(Query(c.resolve_model('default'), Hardware(load_hardware()['l4']), "
            "Workload()), default_rules()); "
            "assert 'torch' not in sys.modules, 'the chooser imported torch'")
    result = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).parents[3],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
