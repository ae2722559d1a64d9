"""IA³ and bottleneck merging, and the inputs a merge refuses (one-line error, registry unchanged)."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import peft
import pytest
import torch

from hubcli.engine import load
from hubcli.merge.spec import MergeError, make_spec
from hubcli.services.merging import merge_adapters
from hubcli.testing import tiny_inputs, tiny_model
from hubcli.testing.tolerance import assert_outputs_close, assert_weights_close
from tests.helpers.tiny_models import ENGINE_OPTIONS
from tests.test_merge_support import (
    peft_folder,
    register,
    registered_folder,
    registered_tensors,
    registry_state,
)

GOLDEN_BOTTLENECK = Path(__file__).parent / "golden/adapterhub/bert/adapters/double_seq_bn"
FEEDFORWARD = "down_proj"  # PEFT's IA³ default for Llama scales down_proj's input


def vectors(registry, name):
    return {
        k[len("base_model.model.") : -len(".ia3_l")]: v.double()
        for k, v in registered_tensors(registry, name).items()
    }


def scaled_model(base, merged):
    """The direct computation: IA³ folded into the weights (output rows or input columns)."""
    model = copy.deepcopy(base)
    with torch.no_grad():
        for module, vector in merged.items():
            weight = model.get_submodule(module).weight
            weight *= (vector.reshape(1, -1) if module.endswith(FEEDFORWARD) else vector.reshape(-1, 1)).to(
                weight.dtype
            )
    return model


@pytest.mark.parametrize(("method", "weights"), [("linear", [0.7, 0.3]), ("task_arithmetic", [1.0, 1.0])])
def test_ia3_merges_deviations_from_one(registry, tmp_path, method, weights):
    base = tiny_model("llama", **ENGINE_OPTIONS["llama"])
    for name, seed in (("a", 1), ("b", 2)):
        register(registry, peft_folder(base, tmp_path / name, kind="ia3", seed=seed), name)
    merge_adapters(registry, "ab", ["a", "b"], make_spec(2, method=method, weights=weights))
    first, second, got = vectors(registry, "a"), vectors(registry, "b"), vectors(registry, "ab")
    for module, vector in got.items():
        # linear (weights summing to 1): the weighted mean; task arithmetic: 1 + (l₁−1) + (l₂−1)
        expected = 1 + weights[0] * (first[module] - 1) + weights[1] * (second[module] - 1)
        assert_weights_close(vector, expected, width=3, dtype=torch.float32)  # stored as float32
    if method == "linear":
        for m in got:
            assert_weights_close(got[m], 0.7 * first[m] + 0.3 * second[m], width=2, dtype=torch.float32)

    ids, mask = tiny_inputs()
    with torch.no_grad():
        direct = scaled_model(base, got)(input_ids=ids, attention_mask=mask).logits
    engine = load(copy.deepcopy(base), ["ab"], registry=registry).forward(ids, mask).logits
    assert_outputs_close(engine, direct, base)
    wrapped = peft.PeftModel.from_pretrained(
        copy.deepcopy(base), registered_folder(registry, "ab", tmp_path / "f")
    )
    with torch.no_grad():
        assert_outputs_close(wrapped.eval()(input_ids=ids, attention_mask=mask).logits, direct, base)


@pytest.mark.parametrize("method", ["ties", "dare_linear", "dare_ties"])
def test_ia3_ties_and_dare_reset_dropped_entries_to_one(registry, tmp_path, method):
    """Trimmed or dropped entries go back to 1 (no scaling), never to 0; DARE's masks are drawn
    module by module in sorted order, inputs in order, from the seeded generator."""
    from hubcli.merge.task_vectors import combine

    base = tiny_model("llama", **ENGINE_OPTIONS["llama"])
    for name, seed in (("a", 1), ("b", 2)):
        register(registry, peft_folder(base, tmp_path / name, kind="ia3", seed=seed), name)
    spec = make_spec(2, method=method, density=0.3, seed=11)
    merge_adapters(registry, "ab", ["a", "b"], spec)
    first, second, got = vectors(registry, "a"), vectors(registry, "b"), vectors(registry, "ab")
    generator = torch.Generator().manual_seed(11)
    for module in sorted(got):
        expected = 1 + combine([first[module] - 1, second[module] - 1], spec, generator)
        assert_weights_close(got[module], expected, width=3, dtype=torch.float32)
        assert bool((got[module] == 1).any()), "some entries were trimmed or dropped back to 1"


def bottleneck_twin(tmp_path: Path, name: str, factor: float) -> Path:
    """The golden AdapterHub Houlsby adapter, renamed to ``name`` with its parameters rescaled."""
    folder = tmp_path / name
    shutil.copytree(GOLDEN_BOTTLENECK, folder)
    raw = json.loads((folder / "adapter_config.json").read_text())
    state = torch.load(folder / "pytorch_adapter.bin", weights_only=True)
    (folder / "pytorch_adapter.bin").unlink()
    raw["name"] = name
    (folder / "adapter_config.json").write_text(json.dumps(raw))
    from safetensors.torch import save_file

    renamed = {
        k.replace(".adapters.double_seq_bn.", f".adapters.{name}."): v * factor for k, v in state.items()
    }
    save_file(renamed, str(folder / "adapter.safetensors"))
    return folder


def test_bottleneck_parameters_are_averaged_in_adapterhub_layout(registry, tmp_path):
    register(registry, bottleneck_twin(tmp_path, "one", 1.0), "one")
    register(registry, bottleneck_twin(tmp_path, "two", -3.0), "two")
    outcome = merge_adapters(registry, "avg", ["one", "two"], make_spec(2, weights=[3, 1]))
    assert "approximation" in outcome.report
    adapter = registry.get_adapter("avg")
    assert (adapter.architecture, adapter.format) == ("bottleneck", "adapterhub")
    one = registered_tensors(registry, "one")
    got = registered_tensors(registry, "avg")
    assert len(got) == len(one) == 16
    for key, value in one.items():
        merged = got[key.replace(".adapters.one.", ".adapters.avg.")]
        assert_weights_close(merged, 0.75 * value + 0.25 * (-3.0 * value), width=2)
    for method in ("ties", "svd"):
        with pytest.raises(MergeError, match="only with --method linear"):
            merge_adapters(registry, "t", ["one", "two"], make_spec(2, method=method))
    with pytest.raises(MergeError, match="--rank applies to LoRA"):
        merge_adapters(registry, "t", ["one", "two"], make_spec(2, rank=2))


def expect_refusal(registry, sources, message, spec=None, name="merged"):
    before = registry_state(registry)
    with pytest.raises(MergeError) as error:
        merge_adapters(registry, name, sources, spec or make_spec(len(sources)))
    assert message in error.value.message, error.value.message
    assert "\n" not in error.value.message
    assert registry_state(registry) == before


def test_refusals_leave_the_registry_unchanged(registry, tmp_path):
    base = tiny_model("llama", **ENGINE_OPTIONS["llama"])
    register(registry, peft_folder(base, tmp_path / "a", seed=1), "a")
    register(registry, peft_folder(base, tmp_path / "other-base", seed=2, base_id="tiny/other"), "other-base")
    register(registry, peft_folder(base, tmp_path / "ia3", kind="ia3"), "ia3")
    register(registry, peft_folder(base, tmp_path / "q", seed=3, target_modules=["q_proj"]), "q")
    wide = tiny_model("llama", hidden=48, **ENGINE_OPTIONS["llama"])
    register(registry, peft_folder(wide, tmp_path / "wide", seed=4), "wide")
    register(registry, peft_folder(base, tmp_path / "dora", seed=5, use_dora=True), "dora")

    expect_refusal(registry, ["a", "other-base"], "different base models (tiny/llama vs tiny/other)")
    expect_refusal(registry, ["a", "ia3"], "different architectures (lora vs ia3)")
    expect_refusal(registry, ["a", "q"], "adapt different modules")
    expect_refusal(registry, ["a", "wide"], "has shape [32, 37] in 'a' but [48, 37] in 'wide'")
    expect_refusal(registry, ["a", "dora"], "use_dora is set")
    expect_refusal(registry, ["a", "ia3"], "already exists", name="ia3")
    expect_refusal(registry, ["ia3", "ia3"], "--rank and --method svd apply to LoRA", make_spec(2, rank=2))
    expect_refusal(
        registry, ["ia3", "ia3"], "--rank and --method svd apply to LoRA", make_spec(2, method="svd")
    )


def seq_cls_lora(base, folder: Path, seed: int) -> Path:
    """A SEQ_CLS LoRA on BERT's queries whose classifier (modules_to_save) is trained too."""
    wrapped = peft.get_peft_model(
        copy.deepcopy(base), peft.LoraConfig(task_type="SEQ_CLS", r=2, target_modules=["query"])
    )
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in wrapped.named_parameters():
            if "lora_" in name or "modules_to_save.default" in name:
                param.copy_(torch.randn(param.shape, generator=generator) * 0.3)
    wrapped.save_pretrained(folder)
    return folder


def test_trained_classifiers_are_averaged_by_linear_merges_only(registry, tmp_path):
    base = tiny_model("bert", **ENGINE_OPTIONS["bert"])
    for name, seed in (("c1", 1), ("c2", 2)):
        register(registry, seq_cls_lora(base, tmp_path / name, seed), name)
    outcome = merge_adapters(registry, "c", ["c1", "c2"], make_spec(2, weights=[0.25, 0.75]))
    assert "saved_modules" in outcome.report
    assert "classifier" in registry.get_adapter("c").method_config["modules_to_save"]

    first, second = registered_tensors(registry, "c1"), registered_tensors(registry, "c2")
    expected = copy.deepcopy(base)
    with torch.no_grad():
        for key in first:
            if key.endswith(".lora_A.weight"):
                module = key[len("base_model.model.") : -len(".lora_A.weight")]
                b_key = key.replace("lora_A", "lora_B")
                delta = sum(w * 4.0 * (t[b_key] @ t[key]) for w, t in ((0.25, first), (0.75, second)))
                expected.get_submodule(module).weight += delta  # scaling 8/2 (PEFT's default alpha 8)
        for param in ("weight", "bias"):
            key = f"base_model.model.classifier.{param}"
            getattr(expected.classifier, param).copy_(0.25 * first[key] + 0.75 * second[key])
    ids, mask = tiny_inputs()
    with torch.no_grad():
        direct = expected(input_ids=ids, attention_mask=mask).logits
    engine = load(copy.deepcopy(base), ["c"], registry=registry).forward(ids, mask).logits
    assert_outputs_close(engine, direct, base)
    wrapped = peft.PeftModel.from_pretrained(
        copy.deepcopy(base), registered_folder(registry, "c", tmp_path / "f")
    )
    with torch.no_grad():
        assert_outputs_close(wrapped.eval()(input_ids=ids, attention_mask=mask).logits, direct, base)

    expect_refusal(
        registry,
        ["c1", "c2"],
        "can only be averaged (--method linear), not merged by ties",
        make_spec(2, method="ties"),
    )
    plain = peft.get_peft_model(copy.deepcopy(base), peft.LoraConfig(r=2, target_modules=["query"]))
    plain.save_pretrained(tmp_path / "headless")
    register(registry, tmp_path / "headless", "headless")
    expect_refusal(registry, ["c1", "headless"], "adapt different saved modules")


GOLDEN_BERT = Path(__file__).parent / "golden/adapterhub/bert"


def golden_inputs():
    data = json.loads((GOLDEN_BERT / "inputs.json").read_text())
    return torch.tensor(data["input_ids"]), torch.tensor(data["attention_mask"])


def test_adapterhub_loras_merge_into_peft_layout_matching_the_adapters_library(registry, tmp_path):
    """Two LoRAs saved by the ``adapters`` library: merging one with itself (weights ½, ½) must
    reproduce the library's own output for it (golden file), which pins the key mapping and the
    scaling; a merge of the two must equal W + Σ wᵢΔWᵢ, run by the engine and by PEFT."""
    from safetensors.torch import load_file

    from hubcli.importer import import_adapter
    from hubcli.plugin_api import AdapterFolder

    for name in ("lora", "lora_2"):
        import_adapter(registry, AdapterFolder(GOLDEN_BERT / "adapters" / name), name=name)
    merge_adapters(registry, "same", ["lora", "lora"], make_spec(2, weights=[0.5, 0.5]))
    merged = registry.get_adapter("same")
    assert (merged.architecture, merged.format, merged.base_model) == (
        "lora",
        "peft",
        "hubcli-golden/tiny-bert",
    )
    ids, mask = golden_inputs()
    base_dir = GOLDEN_BERT / "base"
    got = load(base_dir, ["same"], registry=registry).forward(ids, mask).last_hidden_state
    expected = load_file(GOLDEN_BERT / "expected" / "lora.safetensors")["last_hidden_state"]
    assert_outputs_close(got, expected, base_dir)

    merge_adapters(
        registry, "mix", ["lora", "lora_2"], make_spec(2, method="task_arithmetic", weights=[0.7, -0.3])
    )
    deltas = {}
    for name, weight in (("lora", 0.7), ("lora_2", -0.3)):
        for key, a in registered_tensors(registry, name).items():
            if key.endswith(".lora_A"):
                b = registered_tensors(registry, name)[key[: -len("lora_A")] + "lora_B"]
                module = key.split(".loras.")[0]
                deltas[module] = deltas.get(module, 0) + weight * (8 / 4) * (b @ a)
    direct_model = load(base_dir).model
    with torch.no_grad():
        for module, delta in deltas.items():
            direct_model.get_submodule(module).weight += delta
        direct = direct_model(input_ids=ids, attention_mask=mask).last_hidden_state
    engine = load(base_dir, ["mix"], registry=registry).forward(ids, mask).last_hidden_state
    assert_outputs_close(engine, direct, base_dir)
    wrapped = peft.PeftModel.from_pretrained(
        load(base_dir).model, registered_folder(registry, "mix", tmp_path / "m")
    )
    with torch.no_grad():
        by_peft = wrapped.eval()(input_ids=ids, attention_mask=mask).last_hidden_state
    assert_outputs_close(by_peft, direct, base_dir)


def test_adapterhub_fused_qkv_loras_are_refused(registry):
    from hubcli.importer import import_adapter
    from hubcli.plugin_api import AdapterFolder

    folder = Path(__file__).parent / "golden/adapterhub/gpt2/adapters/lora"
    import_adapter(registry, AdapterFolder(folder), name="g")
    expect_refusal(registry, ["g", "g"], "merged QKV")


def test_adapterhub_ia3_merges_into_peft_layout_matching_the_adapters_library(registry):
    from safetensors.torch import load_file

    from hubcli.importer import import_adapter
    from hubcli.plugin_api import AdapterFolder

    import_adapter(registry, AdapterFolder(GOLDEN_BERT / "adapters" / "ia3"), name="ia3")
    merge_adapters(registry, "same", ["ia3", "ia3"], make_spec(2, method="ties", density=1.0))
    assert registry.get_adapter("same").format == "peft"
    ids, mask = golden_inputs()
    got = load(GOLDEN_BERT / "base", ["same"], registry=registry).forward(ids, mask).last_hidden_state
    expected = load_file(GOLDEN_BERT / "expected" / "ia3.safetensors")["last_hidden_state"]
    assert_outputs_close(got, expected, GOLDEN_BERT / "base")
