"""Forward time of one stitched adapter relative to the bare base model, next to PEFT's.

    python bench/bench_single_adapter.py                       # small CPU shapes
    python bench/bench_single_adapter.py --shape bert-base --device cuda --dtype bfloat16
    python bench/bench_single_adapter.py --shape llama-1b --device cuda --dtype bfloat16 --compile-base

For each method the same random adapter is created with PEFT, saved, imported into a temporary
registry and attached with hubcli to its own copy of the base model. Base, hubcli and PEFT
forwards are timed in interleaved rounds in one process, and the ratio is taken against the
fastest bare base (eager, or ``torch.compile`` with ``--compile-base``). ``--stat min`` (the
default) suits a shared machine, where other processes only ever add time; ``median`` a quiet one.
Prints a markdown table.
"""

from __future__ import annotations

import argparse
import copy
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from harness import header, round_times

SHAPES: dict[str, dict[str, Any]] = {
    # family, config sizes, batch, sequence length, LoRA rank and targets
    "bert-small": {
        "family": "bert",
        "hidden": 256,
        "layers": 4,
        "heads": 4,
        "kv_heads": 4,
        "ffn": 1024,
        "batch": 8,
        "seq": 128,
        "r": 8,
        "targets": ["query", "value"],
    },
    "llama-small": {
        "family": "llama",
        "hidden": 256,
        "layers": 4,
        "heads": 8,
        "kv_heads": 2,
        "ffn": 688,
        "batch": 4,
        "seq": 128,
        "r": 16,
        "targets": ["q_proj", "k_proj", "v_proj", "o_proj"],
    },
    "bert-base": {
        "family": "bert",
        "hidden": 768,
        "layers": 12,
        "heads": 12,
        "kv_heads": 12,
        "ffn": 3072,
        "batch": 256,
        "seq": 128,
        "r": 8,
        "targets": ["query", "value"],
    },
    "llama-1b": {
        "family": "llama",
        "hidden": 2048,
        "layers": 16,
        "heads": 32,
        "kv_heads": 8,
        "ffn": 8192,
        "batch": 32,
        "seq": 512,
        "r": 16,
        "targets": ["q_proj", "k_proj", "v_proj", "o_proj"],
    },
}
METHODS = ("lora", "lora-merged", "prefix")
PREFIX_TOKENS = 30


def base_model(shape: dict[str, Any]) -> torch.nn.Module:
    import transformers as tf

    torch.manual_seed(0)
    if shape["family"] == "bert":
        config = tf.BertConfig(
            hidden_size=shape["hidden"],
            num_hidden_layers=shape["layers"],
            num_attention_heads=shape["heads"],
            intermediate_size=shape["ffn"],
            max_position_embeddings=max(512, shape["seq"] + PREFIX_TOKENS),
        )
        return tf.BertModel(config).eval()
    config = tf.LlamaConfig(
        hidden_size=shape["hidden"],
        num_hidden_layers=shape["layers"],
        num_attention_heads=shape["heads"],
        num_key_value_heads=shape["kv_heads"],
        intermediate_size=shape["ffn"],
        vocab_size=32000,
    )
    return tf.LlamaModel(config).eval()


def peft_config(method: str, shape: dict[str, Any]) -> Any:
    import peft

    if method.startswith("lora"):
        return peft.LoraConfig(r=shape["r"], lora_alpha=2 * shape["r"], target_modules=shape["targets"])
    return peft.PrefixTuningConfig(task_type="FEATURE_EXTRACTION", num_virtual_tokens=PREFIX_TOKENS)


def bench_shape(name: str, args: argparse.Namespace) -> list[dict[str, Any]]:
    import peft

    from hubcli.engine import load
    from hubcli.importer import import_adapter
    from hubcli.plugin_api import AdapterFolder
    from registry import Registry

    shape = SHAPES[name]
    dtype = getattr(torch, args.dtype)
    model = base_model(shape)
    base = copy.deepcopy(model).to(args.device, dtype)
    generator = torch.Generator().manual_seed(1)
    ids = torch.randint(5, model.config.vocab_size, (shape["batch"], shape["seq"]), generator=generator)
    ids = ids.to(args.device)
    mask = torch.ones_like(ids)
    rows = []
    with tempfile.TemporaryDirectory() as tmp, torch.inference_mode():
        registry = Registry(Path(tmp) / "registry")
        runners: dict[str, Callable[[], Any]] = {"base": lambda: base(input_ids=ids, attention_mask=mask)}
        if args.compile_base:
            compiled = torch.compile(copy.deepcopy(base))
            runners["base (compiled)"] = lambda: compiled(input_ids=ids, attention_mask=mask)
        for method in METHODS:
            folder = Path(tmp) / method
            wrapped = peft.get_peft_model(copy.deepcopy(model), peft_config(method, shape))
            for param_name, param in wrapped.named_parameters():
                if "lora_" in param_name or "prompt_encoder" in param_name:
                    param.copy_(torch.randn(param.shape, generator=generator) * 0.02)
            wrapped.save_pretrained(folder)
            import_adapter(registry, AdapterFolder(folder), name=method)
            wrapped = wrapped.to(args.device, dtype).eval()
            stitched = load(
                copy.deepcopy(model), [method], registry=registry, dtype=args.dtype, device=args.device
            )
            if method.endswith("merged"):
                stitched.merge(method)
                wrapped.merge_adapter()
            runners[f"hubcli {method}"] = lambda s=stitched: s.forward(ids, mask)
            runners[f"peft {method}"] = lambda w=wrapped: w(input_ids=ids, attention_mask=mask)
        times = round_times(runners, args.device, args.warmup, args.rounds, args.stat)
        registry.close()
    fastest = min(t for key, t in times.items() if key.startswith("base"))
    for method in METHODS:
        rows.append(
            {
                "shape": name,
                "method": method,
                "base_ms": fastest * 1e3,
                "hubcli": times[f"hubcli {method}"] / fastest,
                "peft": times[f"peft {method}"] / fastest,
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--shape",
        action="append",
        choices=sorted(SHAPES),
        help="model shape (repeatable; default: bert-small and llama-small)",
    )
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--stat", default="min", choices=["min", "median"], help="summary of the rounds")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--compile-base", action="store_true", help="also time torch.compile(base)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = [row for name in args.shape or ["bert-small", "llama-small"] for row in bench_shape(name, args)]
    print(header(args))
    print("| shape | batch × seq | method | base ms | hubcli × base | PEFT × base |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        shape = SHAPES[row["shape"]]
        print(
            f"| {row['shape']} | {shape['batch']} × {shape['seq']} | {row['method']} | {row['base_ms']:.1f} "
            f"| {row['hubcli']:.2f}× | {row['peft']:.2f}× |"
        )


if __name__ == "__main__":
    main()
