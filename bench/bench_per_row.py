"""Per-row multi-adapter inference: forward time with N distinct LoRAs in one batch, relative to
the bare base model, next to PEFT's mixed batch (``adapter_names=``).

    python bench/bench_per_row.py --threads 1                                   # CPU, small shape
    python bench/bench_per_row.py --shape bert-base --shape llama-1b --device cuda \\
        --dtype bfloat16 --compile-base                                         # the issue's targets

Every row of the batch names its adapter (row i → adapter i mod N, rows shuffled). hubcli routes
them with ``batch_split(…, rows=[…])`` (``hubcli.compose.per_row``), which gathers each row's
LoRA factors into two batched matmuls per projection; PEFT loops over the distinct adapters with
masked copies. Adapters are random (B included, so nothing is skipped as zero). Timing as in
``bench_single_adapter.py``: interleaved rounds, min (default) or median, ratios against the
fastest bare base (eager, or ``torch.compile`` with ``--compile-base``). Prints a markdown table.
"""

from __future__ import annotations

import argparse
import copy
import random
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from harness import header, round_times

SHAPES: dict[str, dict[str, Any]] = {
    "bert-small": {
        "family": "bert",
        "hidden": 256,
        "layers": 4,
        "heads": 4,
        "kv_heads": 4,
        "ffn": 1024,
        "batch": 64,
        "seq": 32,
        "r": 8,
        "targets": ["query", "value"],
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


def base_model(shape: dict[str, Any]) -> torch.nn.Module:
    import transformers as tf

    torch.manual_seed(0)
    if shape["family"] == "bert":
        config = tf.BertConfig(
            hidden_size=shape["hidden"],
            num_hidden_layers=shape["layers"],
            num_attention_heads=shape["heads"],
            intermediate_size=shape["ffn"],
            max_position_embeddings=max(512, shape["seq"]),
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


def peft_with_adapters(model: torch.nn.Module, shape: dict[str, Any], count: int, rank: int) -> Any:
    """A PEFT model holding ``count`` random LoRAs named a0 … a{count-1}."""
    import peft

    config = peft.LoraConfig(r=rank, lora_alpha=2 * rank, target_modules=shape["targets"])
    wrapped = peft.get_peft_model(copy.deepcopy(model), config, adapter_name="a0")
    for i in range(1, count):
        wrapped.add_adapter(f"a{i}", config)
    generator = torch.Generator().manual_seed(rank)
    with torch.no_grad():
        for name, param in wrapped.named_parameters():
            if "lora_" in name:
                param.copy_(torch.randn(param.shape, generator=generator) * 0.02)
    return wrapped


def hubcli_with_adapters(model: torch.nn.Module, wrapped: Any, count: int, args: argparse.Namespace) -> Any:
    """The same ``count`` LoRAs attached to a ``StitchedModel`` (one imported through the
    registry for its canonical config, the others sharing it with their own tensors)."""
    import peft

    from hubcli.engine import StitchedModel, load_base_model, read_adapter
    from hubcli.importer import import_adapter
    from hubcli.plugin_api import AdapterFolder, LoadedAdapter
    from registry import Registry

    with tempfile.TemporaryDirectory() as tmp:
        wrapped.save_pretrained(Path(tmp) / "proto", selected_adapters=["a0"])
        registry = Registry(Path(tmp) / "registry")
        import_adapter(
            registry, AdapterFolder(Path(tmp) / "proto" / "a0"), name="a0"
        )  # PEFT: one folder per named adapter
        proto = read_adapter(registry, "a0")
        registry.close()
    stitched = StitchedModel(load_base_model(copy.deepcopy(model), dtype=args.dtype, device=args.device))
    for i in range(count):
        state = peft.get_peft_model_state_dict(wrapped, adapter_name=f"a{i}")
        tensors = {key: value.detach().clone() for key, value in state.items()}
        stitched.attach(
            LoadedAdapter(f"a{i}", proto.architecture, proto.format, proto.config, proto.raw_config, tensors)
        )
    return stitched


def bench(name: str, count: int, rank: int, args: argparse.Namespace) -> dict[str, Any]:
    from hubcli.compose.setup import activate, per_row

    shape = SHAPES[name]
    dtype = getattr(torch, args.dtype)
    model = base_model(shape)
    wrapped = peft_with_adapters(model, shape, count, rank)
    stitched = hubcli_with_adapters(model, wrapped, count, args)
    wrapped = wrapped.to(args.device, dtype).eval()
    base = copy.deepcopy(model).to(args.device, dtype)
    generator = torch.Generator().manual_seed(1)
    ids = torch.randint(5, model.config.vocab_size, (shape["batch"], shape["seq"]), generator=generator).to(
        args.device
    )
    mask = torch.ones_like(ids)
    names = [f"a{i % count}" for i in range(shape["batch"])]
    random.Random(0).shuffle(names)
    single = copy.deepcopy(stitched)
    activate(single, "a0")
    per_row(stitched, names)
    runners: dict[str, Callable[[], Any]] = {
        "base": lambda: base(input_ids=ids, attention_mask=mask),
        "hubcli one adapter": lambda: single.model(input_ids=ids, attention_mask=mask),
        "hubcli per row": lambda: stitched.model(input_ids=ids, attention_mask=mask),
        "peft per row": lambda: wrapped(input_ids=ids, attention_mask=mask, adapter_names=names),
    }
    if args.compile_base:
        compiled = torch.compile(copy.deepcopy(base))
        runners["base (compiled)"] = lambda: compiled(input_ids=ids, attention_mask=mask)
    with torch.inference_mode():
        times = round_times(runners, args.device, args.warmup, args.rounds, args.stat)
    fastest = min(t for key, t in times.items() if key.startswith("base"))
    return {
        "shape": name,
        "count": count,
        "rank": rank,
        "base_ms": fastest * 1e3,
        **{key: value / fastest for key, value in times.items() if not key.startswith("base")},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", action="append", choices=sorted(SHAPES), help="default: bert-small")
    parser.add_argument(
        "--count", action="append", type=int, help="distinct adapters (default 1, 8, 64, 256)"
    )
    parser.add_argument("--rank", action="append", type=int, help="LoRA ranks (default: the shape's)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--stat", default="min", choices=["min", "median"])
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--compile-base", action="store_true")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = []
    for name in args.shape or ["bert-small"]:
        shape = SHAPES[name]
        for rank in args.rank or [shape["r"]]:
            for count in args.count or [1, 8, 64, 256]:
                if count <= shape["batch"]:
                    rows.append(bench(name, count, rank, args))
    print(header(args))
    print(
        "| shape | batch × seq | rank | distinct adapters | base ms | hubcli one adapter | hubcli per row | PEFT per row |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        shape = SHAPES[row["shape"]]
        print(
            f"| {row['shape']} | {shape['batch']} × {shape['seq']} | {row['rank']} | {row['count']} | "
            f"{row['base_ms']:.1f} | {row['hubcli one adapter']:.2f}× | {row['hubcli per row']:.2f}× | "
            f"{row['peft per row']:.2f}× |"
        )


if __name__ == "__main__":
    main()
