"""Generate PEFT golden fixtures: adapters PEFT saved and the outputs PEFT's own model gave.

Where a newer PEFT/transformers pair can no longer run a method, the tests still prove hubcli
equal to PEFT against these files. The case today: PEFT prefix tuning on encoders (BERT,
RoBERTa). transformers 5.24 renamed the models' ``past_key_values`` argument to ``cache``, and
PEFT 0.21.2 looks the old name up in the forward signature and raises "Model does not support
past key values which are required for prefix tuning." Under the locked versions
(requirements-lock: transformers 5.23.0, peft 0.21.2) it works, so run this with the locked venv:

    .venv/bin/python tests/golden/make_peft_goldens.py

It deletes and rewrites tests/golden/peft/ (about 15 s; see tests/golden/README.md):

    manifest.json                         versions, seeds, the randomisation rule, every case
    <model>/base/                         config.json + model.safetensors of the tiny base model
    <model>/inputs.json                   input_ids + attention_mask of every case of that model
    <model>/adapters/<case>/              what PeftModel.save_pretrained wrote
    <model>/expected/<case>.safetensors   float32 "logits" and "hidden_states" (embeddings, every layer)

Everything is built from configs (no network). Determinism: one torch thread, eager attention,
deterministic algorithms, seeds from a CRC32 of each case's name, models in eval mode without
dropout. Running it twice gives the same bytes.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import warnings
import zlib
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # everything is local; PEFT would look the base up
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch  # noqa: E402

torch.set_num_threads(1)
torch.use_deterministic_algorithms(True)

import peft  # noqa: E402
import safetensors  # noqa: E402
import transformers  # noqa: E402
from safetensors.torch import load_file, save_file  # noqa: E402
from transformers import (  # noqa: E402
    AutoModelForSequenceClassification,
    BertConfig,
    BertForSequenceClassification,
    RobertaConfig,
    RobertaForSequenceClassification,
)

transformers.logging.set_verbosity_error()
transformers.logging.disable_progress_bar()
warnings.filterwarnings("ignore", category=FutureWarning)  # PEFT calls a deprecated transformers API

GLOBAL_SEED = 4321
INIT_RANGE = 0.2
"""Not transformers' 0.02: attention far from uniform, so every adapter changes the outputs."""
BASE_PERTURB_STD = 0.1
"""Biases and LayerNorm parameters of the base: p += 0.1 · N(0, 1) (transformers sets them to
0 and 1, which would hide code that drops them)."""
ADAPTER_PERTURB_STD = 0.2
"""Every trainable parameter PEFT added (the prefix table, the SEQ_CLS classifier copy):
p += 0.2 · N(0, 1)."""
ATTN_IMPL = "eager"
HERE = Path(__file__).resolve().parent
OUT = HERE / "peft"

SIZES = dict(
    vocab_size=100,
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=4,
    intermediate_size=37,
    max_position_embeddings=32,
    num_labels=3,
    hidden_dropout_prob=0.0,
    attention_probs_dropout_prob=0.0,
    classifier_dropout=0.0,
    initializer_range=INIT_RANGE,
)
MODELS = {
    "bert": (BertConfig(**SIZES), BertForSequenceClassification),
    "roberta": (
        RobertaConfig(**SIZES, pad_token_id=1, bos_token_id=0, eos_token_id=2),
        RobertaForSequenceClassification,
    ),
}
CASES = {
    # case name -> PEFT config (SEQ_CLS: PEFT also saves the classifier it trains, modules_to_save)
    "prefix": lambda: peft.PrefixTuningConfig(task_type="SEQ_CLS", num_virtual_tokens=3),
    "prefix_long": lambda: peft.PrefixTuningConfig(task_type="SEQ_CLS", num_virtual_tokens=6),
}


def seed_for(name: str) -> int:
    return (GLOBAL_SEED * 1_000_003 + zlib.crc32(name.encode())) % (2**31)


def make_inputs(model_key: str, pad_token_id: int) -> dict:
    """Two rows of 7 tokens in [3, 99]; row 1's last two positions are padding."""
    generator = torch.Generator().manual_seed(seed_for(f"{model_key}/inputs"))
    input_ids = torch.randint(3, 100, (2, 7), generator=generator)
    attention_mask = torch.ones(2, 7, dtype=torch.long)
    attention_mask[1, -2:] = 0
    input_ids[1, -2:] = pad_token_id
    return {"input_ids": input_ids.tolist(), "attention_mask": attention_mask.tolist()}


def tensors_of(inputs: dict) -> dict:
    return {key: torch.tensor(value) for key, value in inputs.items()}


@torch.no_grad()
def make_base(model_key: str, folder: Path) -> None:
    config, model_class = MODELS[model_key]
    torch.manual_seed(seed_for(f"{model_key}/base"))
    model = model_class(config).eval()
    generator = torch.Generator().manual_seed(seed_for(f"{model_key}/base-perturb"))
    for name, param in model.named_parameters():
        if name.endswith("bias") or "LayerNorm" in name:
            param.add_(torch.randn(param.shape, generator=generator) * BASE_PERTURB_STD)
    model.save_pretrained(folder)


def load_base(folder: Path):
    model = AutoModelForSequenceClassification.from_pretrained(folder, attn_implementation=ATTN_IMPL)
    # PEFT writes this as base_model_name_or_path: a stable name, not this machine's path.
    model.config._name_or_path = model.name_or_path = f"hubcli-golden/peft-tiny-{folder.parent.name}"
    return model.eval()


@torch.no_grad()
def outputs_of(model, inputs: dict) -> dict[str, torch.Tensor]:
    """``logits`` and ``hidden_states`` [layers + 1, batch, tokens, hidden]: what transformers
    returns as ``output_hidden_states`` (the embeddings' output, then every layer's), captured
    with forward hooks because PEFT's prefix-tuning SEQ_CLS forward mistakes RoBERTa's hidden
    states for the pooled output when ``output_hidden_states=True`` is passed."""
    captured: list[torch.Tensor] = []
    hooks = [
        module.register_forward_hook(
            lambda _m, _i, out: captured.append(out[0] if isinstance(out, tuple) else out)
        )
        for module in model.modules()
        if type(module).__name__ in ("BertEmbeddings", "RobertaEmbeddings", "BertLayer", "RobertaLayer")
    ]
    try:
        output = model(**tensors_of(inputs))
    finally:
        for hook in hooks:
            hook.remove()
    if len(captured) != SIZES["num_hidden_layers"] + 1:
        raise RuntimeError(f"captured {len(captured)} hidden states")
    return {
        "logits": output.logits.detach().float().contiguous(),
        "hidden_states": torch.stack(captured).detach().float().contiguous(),
    }


def max_difference(first: dict, second: dict) -> float:
    return max((first[k] - second[k]).abs().max().item() for k in first)


@torch.no_grad()
def make_case(model_key: str, case: str, base_dir: Path, inputs: dict, base_out: dict) -> dict:
    case_id = f"{model_key}/{case}"
    wrapped = peft.get_peft_model(load_base(base_dir), CASES[case]())
    generator = torch.Generator().manual_seed(seed_for(case_id))
    changed = []
    for name, param in wrapped.named_parameters():
        if param.requires_grad:
            param.add_(torch.randn(param.shape, generator=generator) * ADAPTER_PERTURB_STD)
            changed.append(name)
    wrapped.eval()
    expected = outputs_of(wrapped, inputs)
    adapter_dir = OUT / model_key / "adapters" / case
    wrapped.save_pretrained(adapter_dir, save_embedding_layers=False)
    # The saved folder, loaded by PEFT into a fresh base, must give the very same outputs.
    reloaded = peft.PeftModel.from_pretrained(load_base(base_dir), str(adapter_dir)).eval()
    reload_diff = max_difference(outputs_of(reloaded, inputs), expected)
    if reload_diff != 0.0:
        raise RuntimeError(f"{case_id}: the saved adapter reloads to different outputs ({reload_diff})")
    effect = max_difference(expected, base_out)
    if effect < 1e-2:
        raise RuntimeError(f"{case_id}: the adapter barely changes the output ({effect})")
    expected_file = OUT / model_key / "expected" / f"{case}.safetensors"
    save_file(expected, str(expected_file))
    peft_config = wrapped.peft_config["default"]
    return {
        "id": case_id,
        "model": model_key,
        "method": "prefix_tuning",
        "peft_config": {
            "peft_type": str(getattr(peft_config.peft_type, "value", peft_config.peft_type)),
            "task_type": str(getattr(peft_config.task_type, "value", peft_config.task_type)),
            "num_virtual_tokens": peft_config.num_virtual_tokens,
        },
        "base_model_dir": f"{model_key}/base",
        "adapter_dir": f"{model_key}/adapters/{case}",
        "files": sorted(p.name for p in adapter_dir.iterdir()),
        "weights": {
            k: list(v.shape) for k, v in load_file(adapter_dir / "adapter_model.safetensors").items()
        },
        "randomised": changed,
        "input": f"{model_key}/inputs.json",
        "expected": f"{model_key}/expected/{case}.safetensors",
        "expected_shapes": {k: list(v.shape) for k, v in expected.items()},
        "max_abs_diff_vs_base": effect,
        "reload_max_abs_diff": reload_diff,
    }


def main() -> None:
    models = sys.argv[1:] or list(MODELS)
    if OUT.exists():
        shutil.rmtree(OUT)
    cases = []
    for model_key in models:
        base_dir = OUT / model_key / "base"
        (OUT / model_key / "expected").mkdir(parents=True)
        (OUT / model_key / "adapters").mkdir(parents=True)
        make_base(model_key, base_dir)
        inputs = make_inputs(model_key, MODELS[model_key][0].pad_token_id or 0)
        (OUT / model_key / "inputs.json").write_text(json.dumps(inputs) + "\n")
        base_out = outputs_of(load_base(base_dir), inputs)
        save_file(base_out, str(OUT / model_key / "expected" / "base.safetensors"))
        cases.append(
            {
                "id": f"{model_key}/base",
                "model": model_key,
                "method": None,
                "base_model_dir": f"{model_key}/base",
                "input": f"{model_key}/inputs.json",
                "expected": f"{model_key}/expected/base.safetensors",
                "expected_shapes": {k: list(v.shape) for k, v in base_out.items()},
            }
        )
        for case in CASES:
            cases.append(make_case(model_key, case, base_dir, inputs, base_out))
            print(f"  {cases[-1]['id']}: effect {cases[-1]['max_abs_diff_vs_base']:.3g}")
    manifest = {
        "generator": "tests/golden/make_peft_goldens.py",
        "versions": {
            "peft": peft.__version__,
            "transformers": transformers.__version__,
            "torch": torch.__version__,
            "safetensors": safetensors.__version__,
            "python": ".".join(map(str, sys.version_info[:3])),
        },
        "seed": GLOBAL_SEED,
        "attn_implementation": ATTN_IMPL,
        "randomisation": {
            "base": f"initializer_range {INIT_RANGE}; biases and LayerNorm p += {BASE_PERTURB_STD}·N(0,1)",
            "adapter": f"every trainable parameter p += {ADAPTER_PERTURB_STD}·N(0,1), seeded per case",
        },
        "cases": cases,
    }
    (OUT / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    print(f"wrote {len(cases)} cases to {OUT.relative_to(HERE.parent.parent)}")


if __name__ == "__main__":
    main()
