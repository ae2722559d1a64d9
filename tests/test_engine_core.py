"""Engine core: model families against stock transformers, several adapters at once, stacking,
merge bookkeeping, loading a base from a folder, and one-line errors for mismatches."""

from __future__ import annotations

import copy

import pytest
import torch

from hubcli.engine import StitchedModel, load
from hubcli.importer import import_adapter
from hubcli.plugin_api import AdapterFolder, HubcliError, ModelMismatchError
from hubcli.plugin_api.torch_modules import family_for
from hubcli.testing import model_output, tiny_inputs, tiny_model
from hubcli.testing.tolerance import assert_outputs_close
from tests.helpers import peft_goldens
from tests.helpers.tiny_models import LORA_TARGETS, peft_adapter

STOCK = {"seed": None, "random_biases": False}
"""``tiny_model`` options for stock models: torch's generator as the test left it, zero biases."""
STOCK_MODELS = {
    "bert": lambda: tiny_model("bert", head=None, **STOCK),
    "roberta": lambda: tiny_model("roberta", head=None, **STOCK),
    "xlm-roberta": lambda: tiny_model("xlm-roberta", num_labels=2, **STOCK),
    "distilbert": lambda: tiny_model("distilbert", head=None, max_position_embeddings=512, **STOCK),
    "gpt2": lambda: tiny_model("gpt2", n_positions=1024, bos_token_id=50256, eos_token_id=50256, **STOCK),
    "llama": lambda: tiny_model("llama", **STOCK),
    "mistral": lambda: tiny_model("mistral", head=None, **STOCK),
    "qwen2": lambda: tiny_model("qwen2", **STOCK),
}


def _import(registry, folder, name):
    import_adapter(registry, AdapterFolder(folder), name=name)
    return name


@pytest.mark.parametrize("model_type", STOCK_MODELS)
def test_family_insertion_points_exist_in_stock_models(model_type):
    stitched = StitchedModel(STOCK_MODELS[model_type]())
    points = stitched.family.points
    assert model_type in stitched.family.model_types
    layers = stitched.layer_paths()
    assert len(layers) == stitched.dims.num_layers == 2
    assert stitched.module(points.word_embeddings).weight.shape == (100, 32)
    per_layer = [
        points.q,
        points.k,
        points.v,
        points.qkv,
        points.o,
        *points.ffn_in,
        points.ffn_out,
        points.attention,
        points.attention_output_norm,
        points.ffn_output_norm,
    ]
    for path in filter(None, per_layer):
        stitched.module(f"{layers[1]}.{path}")
    width = stitched.dims.num_kv_heads * stitched.dims.head_dim
    if points.k:
        out_features = stitched.module(f"{layers[0]}.{points.k}").weight.shape[0]
        assert out_features == width  # grouped-query attention: fewer key/value heads


def test_unknown_model_type_names_the_installed_families():
    model = tiny_model("electra", head=None, embedding_size=16, **STOCK)
    with pytest.raises(ModelMismatchError) as caught:
        StitchedModel(model)
    message = caught.value.message
    assert "electra" in message and "bert (bert)" in message and "llama (llama, mistral, qwen2)" in message
    assert "\n" not in message
    assert family_for("qwen2").name == "llama"


@pytest.mark.parametrize(
    ("adapter_family", "hidden", "method", "model_family", "fragment"),
    [
        ("bert", 64, "lora", "bert", "out×in"),
        ("bert", 32, "lora", "llama", "does not have"),
        ("bert", 32, "ia3", "gpt2", "does not have"),
        ("bert", 32, "prefix", "llama", "kv heads"),
        ("bert", 64, "prompt", "bert", "hidden size is 32"),
    ],
)
def test_mismatched_adapter_is_one_clear_line(
    registry, tmp_path, adapter_family, hidden, method, model_family, fragment
):
    peft_adapter(adapter_family, method, tmp_path / "a", hidden=hidden)
    name = _import(registry, tmp_path / "a", "wrong")
    from tests.helpers.tiny_models import ENGINE_OPTIONS

    stitched = StitchedModel(tiny_model(model_family, **ENGINE_OPTIONS[model_family]))
    before = copy.deepcopy(stitched.model.state_dict())
    from hubcli.engine import read_adapter

    with pytest.raises(ModelMismatchError) as caught:
        stitched.attach(read_adapter(registry, name))
    assert fragment in caught.value.message and "\n" not in caught.value.message
    assert "wrong" in caught.value.message or "targets module" in caught.value.message
    assert not stitched.slots_of("wrong") and "wrong" not in stitched.input_adapters
    after = stitched.model.state_dict()
    assert all(torch.equal(v, after[k]) for k, v in before.items())


def test_several_adapters_attached_switch_and_stack(registry, tmp_path):
    """Two LoRAs made with PEFT here and a prefix from the PEFT goldens (PEFT cannot run prefix
    tuning on BERT with every transformers the ranges allow), all on the goldens' tiny BERT."""
    base = peft_goldens.base_model("bert")
    _, lora_a = peft_adapter("bert", "lora", tmp_path / "a", seed=0, model=base)
    _, lora_b = peft_adapter("bert", "dora", tmp_path / "b", seed=0, model=base)
    names = [_import(registry, tmp_path / d, n) for d, n in (("a", "la"), ("b", "lb"))]
    names.append(_import(registry, peft_goldens.adapter_dir("bert/prefix"), "px"))
    ids, mask = peft_goldens.inputs("bert")
    with torch.no_grad():
        expected = {
            n: model_output(m(input_ids=ids, attention_mask=mask))
            for n, m in (("la", lora_a), ("lb", lora_b))
        }
        expected["px"] = peft_goldens.expected("bert/prefix")["logits"]
        base_output = model_output(base(input_ids=ids, attention_mask=mask))
    stitched = load(base, names, registry=registry, activate=False)
    assert torch.equal(model_output(stitched.forward(ids, mask)), base_output)
    for name in ("px", "la", "lb", "la"):
        stitched.activate(name)
        assert_outputs_close(model_output(stitched.forward(ids, mask)), expected[name], stitched)

    # Stacked LoRAs add their deltas: merging both one after the other gives the same output.
    stitched.activate("la", "lb")
    stacked = model_output(stitched.forward(ids, mask))
    weights = copy.deepcopy(stitched.model.state_dict())
    stitched.merge("la")
    with pytest.raises(HubcliError, match="unmerge it before deactivating"):
        stitched.activate("lb")
    stitched.merge("lb")
    with pytest.raises(HubcliError, match="merged later must be unmerged first"):
        stitched.unmerge("la")
    stitched.unmerge("lb")
    stitched.unmerge("la")
    after = stitched.model.state_dict()
    assert all(torch.equal(v, after[k]) for k, v in weights.items())
    assert torch.equal(model_output(stitched.forward(ids, mask)), stacked)

    with pytest.raises(HubcliError, match="cannot merge"):
        stitched.activate("px")
        stitched.merge("px")
    stitched.detach("px")
    with pytest.raises(HubcliError, match="not attached: px"):
        stitched.activate("px")


@pytest.mark.parametrize("family", ["bert", "llama"])
def test_base_loaded_from_a_model_folder(registry, tmp_path, family):
    base, wrapped = peft_adapter(family, "lora", tmp_path / "adapter")
    base.save_pretrained(tmp_path / "base")
    name = _import(registry, tmp_path / "adapter", "x")
    ids, mask = tiny_inputs()
    with torch.no_grad():
        expected = model_output(wrapped(input_ids=ids, attention_mask=mask))
    stitched = load(str(tmp_path / "base"), [name], registry=registry)
    assert type(stitched.model).__name__ == type(base).__name__  # task type picked the head
    assert_outputs_close(model_output(stitched.forward(ids, mask)), expected, stitched)


@pytest.mark.parametrize(
    ("make", "method"),
    [
        (STOCK_MODELS["distilbert"], "lora"),
        (STOCK_MODELS["qwen2"], "lora"),
        (lambda: tiny_model("mistral", **STOCK), "prefix"),
    ],
    ids=["distilbert-lora", "qwen2-lora", "mistral-prefix"],
)
def test_more_families_match_peft(registry, tmp_path, make, method):
    import peft

    torch.manual_seed(0)
    model = make().eval()
    base = copy.deepcopy(model)
    task = "FEATURE_EXTRACTION" if "DistilBert" in type(model).__name__ else "CAUSAL_LM"
    config = (
        peft.LoraConfig(task_type=task, r=4, target_modules="all-linear")
        if method == "lora"
        else peft.PrefixTuningConfig(task_type=task, num_virtual_tokens=3)
    )
    wrapped = peft.get_peft_model(model, config)
    with torch.no_grad():
        for pname, param in wrapped.named_parameters():
            if "lora_" in pname or "prompt_encoder" in pname or "modules_to_save.default" in pname:
                param.normal_(0, 0.2)
    wrapped.eval().save_pretrained(tmp_path / "adapter")
    ids, mask = tiny_inputs()
    with torch.no_grad():
        expected = model_output(wrapped(input_ids=ids, attention_mask=mask))
    stitched = load(base, [_import(registry, tmp_path / "adapter", "x")], registry=registry)
    assert_outputs_close(model_output(stitched.forward(ids, mask)), expected, stitched)


@pytest.mark.parametrize("family", ["bert", "gpt2"])
def test_lora_with_regex_targets_matches_peft(registry, tmp_path, family):
    base, wrapped = peft_adapter(family, "lora_regex", tmp_path / "adapter")
    ids, mask = tiny_inputs()
    with torch.no_grad():
        expected = model_output(wrapped(input_ids=ids, attention_mask=mask))
    stitched = load(base, [_import(registry, tmp_path / "adapter", "r")], registry=registry)
    assert len(stitched.slots) == 2 * len(LORA_TARGETS[family]) + (2 if family == "gpt2" else 0)
    assert_outputs_close(model_output(stitched.forward(ids, mask)), expected, stitched)


def test_lora_with_a_bias_on_b_matches_peft_and_refuses_to_merge(registry, tmp_path):
    base, wrapped = peft_adapter("bert", "lora_bias", tmp_path / "adapter")
    ids, mask = tiny_inputs()
    with torch.no_grad():
        expected = model_output(wrapped(input_ids=ids, attention_mask=mask))
    stitched = load(base, [_import(registry, tmp_path / "adapter", "b")], registry=registry)
    assert_outputs_close(model_output(stitched.forward(ids, mask)), expected, stitched)
    with pytest.raises(HubcliError, match="cannot be merged exactly"):
        stitched.merge("b")
