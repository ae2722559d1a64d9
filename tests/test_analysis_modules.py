"""Grouping real adapters' tensors per module: PEFT LoRAs made on a tiny BERT, the same LoRA
re-saved in AdapterHub's layout (distance 0 across formats), AdapterHub goldens."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from hubcli.analysis.modules import IncomparableAdapters, adapter_weights
from hubcli.analysis.weights import distances
from hubcli.engine import read_adapter
from hubcli.importer import import_adapter
from hubcli.plugin_api import AdapterFolder, LowRankUpdate
from hubcli.testing import tiny_model
from registry import Registry

GOLDEN_BERT = Path(__file__).parent / "golden" / "adapterhub" / "bert"
BASE = "hubcli-golden/tiny-bert"


def tiny_bert():
    """The golden tiny BERT's shape (vocab 100, hidden 32, 2 layers; its config.json), seed 0."""
    golden = {"max_position_embeddings": 64, "initializer_range": 0.2, "pad_token_id": 0}
    dropouts = {"hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0}
    return tiny_model("bert", head=None, random_biases=False, **golden, **dropouts)


def save_peft_lora(
    folder: Path, seed: int, *, r: int = 4, alpha: float = 8, targets: tuple[str, ...] = ("query", "value")
) -> Path:
    """A PEFT LoRA on the tiny BERT with random (not zero) B, saved as PEFT saves it."""
    from peft import LoraConfig, get_peft_model

    base = tiny_bert()
    torch.manual_seed(seed)
    model = get_peft_model(
        base, LoraConfig(r=r, lora_alpha=alpha, target_modules=list(targets), init_lora_weights=False)
    )
    model.save_pretrained(folder)
    return folder


def add(registry: Registry, folder: Path, name: str) -> str:
    import_adapter(registry, AdapterFolder(folder), name=name, base_model=BASE)
    return name


def as_adapterhub(peft_folder: Path, target: Path) -> Path:
    """The PEFT LoRA's factors under AdapterHub's names and config (r 4, alpha 8, q and v)."""
    from safetensors.torch import load_file, save_file

    shutil.copytree(GOLDEN_BERT / "adapters" / "lora_safetensors", target)
    renamed = {}
    for key, tensor in load_file(peft_folder / "adapter_model.safetensors").items():
        path = (
            key.removeprefix("base_model.model.").replace(".lora_A.weight", "").replace(".lora_B.weight", "")
        )
        renamed[f"{path}.loras.lora.lora_{'A' if '.lora_A.' in key else 'B'}"] = tensor
    save_file(renamed, target / "adapter.safetensors")
    return target


def test_peft_lora_modules_keys_factors_and_scaling(registry: Registry, tmp_path: Path) -> None:
    add(registry, save_peft_lora(tmp_path / "p", seed=1, r=4, alpha=16), "p")
    weights = adapter_weights(read_adapter(registry, "p"), BASE, "bert")
    assert sorted(weights.modules) == ["layer.0.q", "layer.0.v", "layer.1.q", "layer.1.v"]
    module = weights.modules["layer.1.v"]
    assert isinstance(module, LowRankUpdate)
    assert module.scaling == 4.0 and module.shape == (32, 32) and module.A.shape == (4, 32)


def test_same_lora_in_both_formats_is_at_distance_zero(registry: Registry, tmp_path: Path) -> None:
    peft_folder = save_peft_lora(tmp_path / "p", seed=2)
    add(registry, peft_folder, "as-peft")
    add(registry, as_adapterhub(peft_folder, tmp_path / "h"), "as-hub")
    add(registry, save_peft_lora(tmp_path / "q", seed=3), "other")
    loaded = [
        adapter_weights(read_adapter(registry, n), BASE, "bert") for n in ("as-peft", "as-hub", "other")
    ]
    assert registry.get_adapter("as-hub").format == "adapterhub"
    for metric in ("l2", "cosine", "grassmann"):
        matrix = distances(loaded, metric=metric).mean()
        assert float(matrix[0, 1]) == pytest.approx(0.0, abs=1e-6)
        assert float(matrix[0, 2]) > 1e-3
        assert float(matrix[1, 2]) == pytest.approx(float(matrix[0, 2]), rel=1e-5)


def test_adapterhub_goldens(registry: Registry) -> None:
    """AdapterHub LoRAs (q, v; and q, k, v + FFN) and bottleneck adapters from the goldens."""
    for case in ("lora", "lora_2", "lora_full", "seq_bn", "seq_bn_2"):
        add(registry, GOLDEN_BERT / "adapters" / case, case)
    loras = [
        adapter_weights(read_adapter(registry, n), BASE, "bert") for n in ("lora", "lora_2", "lora_full")
    ]
    assert sorted(loras[2].modules) == sorted(
        f"layer.{i}.{m}" for i in (0, 1) for m in ("q", "k", "v", "ffn_in", "ffn_out")
    )
    report = distances(loras, metric="grassmann")
    assert list(report.per_module) == ["layer.0.q", "layer.0.v", "layer.1.q", "layer.1.v"]
    bottlenecks = [adapter_weights(read_adapter(registry, n), BASE, "bert") for n in ("seq_bn", "seq_bn_2")]
    assert sorted(bottlenecks[0].modules) == ["layer.0.output", "layer.1.output"]
    assert bottlenecks[0].modules["layer.0.output"].shape == (2 * 32 + 2 + 32 * 2 + 32,)
    assert float(distances(bottlenecks, metric="l2").mean()[0, 1]) > 0
    with pytest.raises(IncomparableAdapters, match="different architectures"):
        distances([loras[0], bottlenecks[0]])


def test_fused_gpt2_attention_and_llama_goldens(registry: Registry) -> None:
    """GPT-2's c_attn LoRA (A [2r, in], B [2·out, r] for q and v) becomes one module per matrix,
    each with ΔW equal to its block of the fused update; Llama's GQA k/v are [16, 32]."""
    golden = GOLDEN_BERT.parent
    add(registry, golden / "gpt2" / "adapters" / "lora", "gpt2-lora")
    weights = adapter_weights(read_adapter(registry, "gpt2-lora"), "tiny-gpt2", "gpt2")
    assert sorted(weights.modules) == ["layer.0.q", "layer.0.v", "layer.1.q", "layer.1.v"]
    loaded = read_adapter(registry, "gpt2-lora")
    a = loaded.tensors["h.1.attn.c_attn.loras.lora.lora_A"]
    b = loaded.tensors["h.1.attn.c_attn.loras.lora.lora_B"]
    value = weights.modules["layer.1.v"]
    torch.testing.assert_close(value.scaling * value.B @ value.A, 2.0 * b[32:] @ a[4:])
    add(registry, golden / "llama" / "adapters" / "lora_full", "llama-lora")
    llama = adapter_weights(read_adapter(registry, "llama-lora"), "tiny-llama", "llama")
    assert llama.modules["layer.0.k"].shape == (16, 32)
    assert sorted(k for k in llama.modules if k.startswith("layer.0.")) == [
        "layer.0.ffn_in.up_proj",
        "layer.0.ffn_out",
        "layer.0.k",
        "layer.0.q",
        "layer.0.v",
    ]
    report = distances([llama, llama.restricted(llama.modules)], metric="l2", matrices=["ffn_in"])
    assert list(report.per_module) == ["layer.0.ffn_in.up_proj", "layer.1.ffn_in.up_proj"]


def test_dora_is_refused(registry: Registry, tmp_path: Path) -> None:
    folder = save_peft_lora(tmp_path / "d", seed=4)
    config = json.loads((folder / "adapter_config.json").read_text())
    assert config["use_dora"] is False
    loaded = read_adapter(registry, add(registry, folder, "d"))
    loaded.config["use_dora"] = True
    with pytest.raises(IncomparableAdapters, match="is a DoRA"):
        adapter_weights(loaded, BASE, "bert")
