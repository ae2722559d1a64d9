"""PEFT adapters, saved by the real ``peft`` library, imported through the architecture plugins.

Every case builds a tiny model from a config, wraps it with PEFT, saves it with
``save_pretrained`` and imports the folder with ``hubcli.importer.import_adapter``. The number
of parameters must be what PEFT trains and saves.
"""

from __future__ import annotations

from pathlib import Path

import peft
import pytest
import torch

from hubcli.importer import adapter_subfolders, import_adapter
from hubcli.plugin_api import AdapterFolder
from hubcli.testing import tiny_model
from plugins.architectures.ia3.config import IA3Config
from plugins.architectures.lora.config import LoraConfig

BASE = "hubcli-test/tiny"
PEFT_FILES = {
    "adapter_config.json": "config",
    "adapter_model.safetensors": "weights",
    "README.md": "card",
}


UNSEEDED = {"seed": None, "random_biases": False}
"""``tiny_model`` options of these tests: torch's generator as the test left it, zero biases."""


def save(model, config, folder: Path, **kwargs) -> int:
    """Wrap, save, and return the number of parameters PEFT trains."""
    torch.manual_seed(0)
    model.name_or_path = BASE  # PEFT records the base model's own name
    wrapped = peft.get_peft_model(model, config, **{k: v for k, v in kwargs.items() if k == "adapter_name"})
    wrapped.save_pretrained(folder, **{k: v for k, v in kwargs.items() if k != "adapter_name"})
    return sum(p.numel() for p in wrapped.parameters() if p.requires_grad)


def roles(registry, adapter) -> dict[str, str]:
    return {f.path: f.role for f in registry.files(adapter)}


def test_lora_seq_cls_with_classifier_and_embedding(registry, tmp_path):
    config = peft.LoraConfig(
        task_type=peft.TaskType.SEQ_CLS,
        r=4,
        lora_alpha=8,
        target_modules=["query", "value", "word_embeddings"],
    )
    trained = save(
        tiny_model("bert", head="classification", num_labels=2, max_position_embeddings=64, **UNSEEDED),
        config,
        tmp_path,
    )
    adapter = import_adapter(registry, AdapterFolder(tmp_path), name="seq-cls").adapter
    assert (adapter.architecture, adapter.variant, adapter.format) == ("lora", "lora", "peft")
    assert (adapter.base_model, adapter.task) == (BASE, "SEQ_CLS")
    assert adapter.num_parameters == trained
    assert roles(registry, adapter) == PEFT_FILES
    canonical = LoraConfig.model_validate(adapter.method_config)
    assert (canonical.r, canonical.alpha, canonical.scaling_rule) == (4, 8.0, "alpha/r")
    assert sorted(canonical.targets.target_modules) == ["query", "value", "word_embeddings"]
    assert canonical.modules_to_save == ["classifier", "score"]
    assert canonical.scaling_for("bert.encoder.layer.0.attention.self.query") == 2.0


def test_lora_dora_rank_and_alpha_patterns(registry, tmp_path):
    config = peft.LoraConfig(
        r=4,
        lora_alpha=8,
        target_modules="all-linear",
        use_dora=True,
        rank_pattern={"q_proj": 2, "layers.1.mlp.up_proj": 6},
        alpha_pattern={"v_proj": 16},
    )
    trained = save(tiny_model("llama", max_position_embeddings=64, **UNSEEDED), config, tmp_path)
    adapter = import_adapter(registry, AdapterFolder(tmp_path), name="dora").adapter
    assert (adapter.variant, adapter.model_type) == ("dora", "llama")
    assert adapter.num_parameters == trained
    canonical = LoraConfig.model_validate(adapter.method_config)
    assert canonical.use_dora
    assert canonical.rank_pattern == {"q_proj": 2, "layers.1.mlp.up_proj": 6}
    assert canonical.rank_for("model.layers.1.mlp.up_proj") == 6
    assert canonical.rank_for("model.layers.0.mlp.up_proj") == 4
    assert canonical.scaling_for("model.layers.0.self_attn.q_proj") == 4.0
    assert canonical.scaling_for("model.layers.0.self_attn.v_proj") == 4.0
    assert canonical.scaling_for("model.layers.0.self_attn.k_proj") == 2.0


def test_rslora_gpt2_conv1d_pickle_in_named_subfolder(registry, tmp_path):
    config = peft.LoraConfig(
        r=4, lora_alpha=8, target_modules=["c_attn", "c_fc"], fan_in_fan_out=True, use_rslora=True
    )
    trained = save(
        tiny_model("gpt2", **UNSEEDED), config, tmp_path, adapter_name="mine", safe_serialization=False
    )
    folder = AdapterFolder(tmp_path)
    assert adapter_subfolders(folder) == ["mine"]
    adapter = import_adapter(registry, folder.sub("mine")).adapter
    assert (adapter.name, adapter.variant, adapter.model_type) == ("mine", "rslora", "gpt2")
    assert adapter.num_parameters == trained
    assert roles(registry, adapter) == {
        "adapter_config.json": "config",
        "adapter_model.safetensors": "weights",  # the pickle, converted without running it
    }
    canonical = LoraConfig.model_validate(adapter.method_config)
    assert canonical.fan_in_fan_out and canonical.scaling_rule == "alpha/sqrt(r)"
    assert canonical.scaling_for("transformer.h.0.attn.c_attn") == 4.0


def test_ia3_feedforward_modules(registry, tmp_path):
    trained = save(
        tiny_model("llama", max_position_embeddings=64, **UNSEEDED),
        peft.IA3Config(task_type=peft.TaskType.CAUSAL_LM),
        tmp_path,
    )
    adapter = import_adapter(registry, AdapterFolder(tmp_path), name="ia3").adapter
    assert (adapter.architecture, adapter.variant, adapter.task) == ("ia3", "ia3", "CAUSAL_LM")
    assert adapter.num_parameters == trained
    canonical = IA3Config.model_validate(adapter.method_config)
    assert canonical.feedforward_modules == ["down_proj"]
    assert canonical.is_feedforward("model.layers.0.mlp.down_proj")
    assert not canonical.is_feedforward("model.layers.0.self_attn.k_proj")
    assert sorted(canonical.targets.target_modules) == ["down_proj", "k_proj", "v_proj"]


@pytest.mark.parametrize("projection", [False, True])
def test_prefix_tuning_table(registry, tmp_path, projection):
    config = peft.PrefixTuningConfig(
        task_type=peft.TaskType.CAUSAL_LM,
        num_virtual_tokens=5,
        prefix_projection=projection,
        encoder_hidden_size=16,
    )
    save(tiny_model("llama", max_position_embeddings=64, **UNSEEDED), config, tmp_path)
    adapter = import_adapter(registry, AdapterFolder(tmp_path), name="prefix").adapter
    assert (adapter.architecture, adapter.variant) == ("prefix_tuning", "flat")
    # Grouped KV: 2 key/value heads of 8 → token_dim 16; the table is what PEFT saved, also
    # with prefix_projection (PEFT saves the MLP's output, not the MLP).
    expected = {"num_virtual_tokens": 5, "num_layers": 2, "token_dim": 16, "num_heads": 2}
    assert {k: adapter.method_config[k] for k in expected} == expected
    assert adapter.method_config["prefix_projection"] is projection
    assert adapter.num_parameters == 5 * 2 * 2 * 16


def test_prompt_tuning_seq_cls(registry, tmp_path):
    config = peft.PromptTuningConfig(task_type=peft.TaskType.SEQ_CLS, num_virtual_tokens=3)
    trained = save(
        tiny_model("bert", head="classification", num_labels=2, max_position_embeddings=64, **UNSEEDED),
        config,
        tmp_path,
    )
    adapter = import_adapter(registry, AdapterFolder(tmp_path), name="prompt").adapter
    assert (adapter.architecture, adapter.hidden_size, adapter.task) == ("prompt_tuning", 32, "SEQ_CLS")
    assert adapter.num_parameters == trained  # 3 × 32 prompt + the classifier
    assert adapter.method_config["num_virtual_tokens"] == 3
    assert adapter.method_config["modules_to_save"] == ["classifier", "score"]


def test_distilbert_seq_cls_saves_pre_classifier_too(registry, tmp_path):
    """PEFT saves every module whose name *ends with* a modules_to_save entry: DistilBERT's
    ``pre_classifier`` rides along with ``classifier``."""
    model = tiny_model(
        "distilbert", head="classification", num_labels=2, max_position_embeddings=512, **UNSEEDED
    )
    lora = peft.LoraConfig(task_type=peft.TaskType.SEQ_CLS, r=2, target_modules=["q_lin", "v_lin"])
    trained = save(model, lora, tmp_path)
    adapter = import_adapter(registry, AdapterFolder(tmp_path), name="distil").adapter
    assert adapter.num_parameters == trained
