"""Composition blocks over bottleneck adapters: forward time relative to the bare base model.

    python bench/bench_blocks.py --threads 1                                    # CPU, small shape
    python bench/bench_blocks.py --shape bert-base --device cuda --dtype bfloat16 --compile-base

Random ``seq_bn`` adapters (Pfeiffer: after the feed-forward block, reduction 16; the config is
the AdapterHub golden's, the weights random) on a BERT model built from a config; one timing
per composition of the issue's table — stack(2), split(2), batch_split(8), parallel(2) (its
output has twice the rows), fuse(3) (fresh dynamic fusion), average(2) — next to one adapter.
Timing as in ``bench_single_adapter.py``. Prints a markdown table.
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

GOLDEN_SEQ_BN = (
    Path(__file__).resolve().parent.parent
    / "tests"
    / "golden"
    / "adapterhub"
    / "bert"
    / "adapters"
    / "seq_bn"
)
SHAPES: dict[str, dict[str, Any]] = {
    "bert-small": {"hidden": 256, "layers": 4, "heads": 4, "ffn": 1024, "batch": 8, "seq": 128},
    "bert-base": {"hidden": 768, "layers": 12, "heads": 12, "ffn": 3072, "batch": 256, "seq": 128},
}


def compositions(batch: int, seq: int) -> dict[str, str]:
    return {
        "one adapter": "a0",
        "stack(2)": "stack(a0, a1)",
        "split(2)": f"split(a0, a1, sizes=[{seq // 2}, {seq - seq // 2}])",
        "batch_split(8)": f"batch_split({', '.join(f'a{i}' for i in range(8))}, sizes=[{', '.join([str(batch // 8)] * 8)}])",
        "parallel(2)": "parallel(a0, a1)",
        "fuse(3)": "fuse(a0, a1, a2)",
        "average(2)": "average(a0, a1)",
    }


def seq_bn_adapters(shape: dict[str, Any], count: int) -> list[Any]:
    """``count`` random Pfeiffer adapters for the shape (canonical config from the golden)."""
    from hubcli.engine import read_adapter
    from hubcli.importer import import_adapter
    from hubcli.plugin_api import AdapterFolder, LoadedAdapter
    from registry import Registry

    with tempfile.TemporaryDirectory() as tmp:
        registry = Registry(Path(tmp))
        import_adapter(registry, AdapterFolder(GOLDEN_SEQ_BN), name="proto")
        proto = read_adapter(registry, "proto")
        registry.close()
    hidden = shape["hidden"]
    down = hidden // 16
    generator = torch.Generator().manual_seed(0)
    adapters = []
    for number in range(count):
        name = f"a{number}"
        tensors = {}
        for layer in range(shape["layers"]):
            prefix = f"encoder.layer.{layer}.output.adapters.{name}."
            for key, size in (
                ("adapter_down.0.weight", (down, hidden)),
                ("adapter_down.0.bias", (down,)),
                ("adapter_up.weight", (hidden, down)),
                ("adapter_up.bias", (hidden,)),
            ):
                tensors[prefix + key] = torch.randn(size, generator=generator) * 0.02
        adapters.append(
            LoadedAdapter(name, proto.architecture, proto.format, proto.config, proto.raw_config, tensors)
        )
    return adapters


def bench(name: str, args: argparse.Namespace) -> list[dict[str, Any]]:
    import transformers as tf

    from hubcli.compose.setup import activate
    from hubcli.engine import StitchedModel, load_base_model

    shape = SHAPES[name]
    torch.manual_seed(0)
    config = tf.BertConfig(
        hidden_size=shape["hidden"],
        num_hidden_layers=shape["layers"],
        num_attention_heads=shape["heads"],
        intermediate_size=shape["ffn"],
    )
    model = tf.BertModel(config).eval()
    dtype = getattr(torch, args.dtype)
    base = copy.deepcopy(model).to(args.device, dtype)
    ids = torch.randint(
        5, config.vocab_size, (shape["batch"], shape["seq"]), generator=torch.Generator().manual_seed(1)
    ).to(args.device)
    mask = torch.ones_like(ids)
    adapters = seq_bn_adapters(shape, 8)
    runners: dict[str, Callable[[], Any]] = {"base": lambda: base(input_ids=ids, attention_mask=mask)}
    if args.compile_base:
        compiled = torch.compile(copy.deepcopy(base))
        runners["base (compiled)"] = lambda: compiled(input_ids=ids, attention_mask=mask)
    for label, spec in compositions(shape["batch"], shape["seq"]).items():
        stitched = StitchedModel(load_base_model(copy.deepcopy(model), dtype=args.dtype, device=args.device))
        for adapter in adapters:
            stitched.attach(adapter)
        activate(stitched, spec)
        runners[label] = lambda s=stitched: s.model(input_ids=ids, attention_mask=mask)
    with torch.inference_mode():
        times = round_times(runners, args.device, args.warmup, args.rounds, args.stat)
    fastest = min(t for key, t in times.items() if key.startswith("base"))
    return [
        {"shape": name, "composition": label, "base_ms": fastest * 1e3, "ratio": t / fastest}
        for label, t in times.items()
        if not label.startswith("base")
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", action="append", choices=sorted(SHAPES), help="default: bert-small")
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
    rows = [row for name in args.shape or ["bert-small"] for row in bench(name, args)]
    print(header(args))
    print("| shape | batch × seq | composition | base ms | hubcli × base |")
    print("|---|---|---|---|---|")
    for row in rows:
        shape = SHAPES[row["shape"]]
        print(
            f"| {row['shape']} | {shape['batch']} × {shape['seq']} | {row['composition']} | "
            f"{row['base_ms']:.1f} | {row['ratio']:.2f}× |"
        )


if __name__ == "__main__":
    main()
