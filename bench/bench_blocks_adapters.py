"""The ``adapters`` library (AdapterHub) on the compositions of ``bench_blocks.py``, for the
side-by-side CPU figures in docs/benchmarks.md. Runs in the goldens' own venv (adapters 1.3.0
needs transformers 4.x and cannot share hubcli's):

    tests/golden/.venv-adapters/bin/python bench/bench_blocks_adapters.py --threads 1

Same shapes, adapter config (``seq_bn``), random weights, inputs and timing rule as
``bench_blocks.py``; ``adapters``' compositions are the equivalents (Average without weights).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import torch

SHAPES: dict[str, dict[str, Any]] = {
    "bert-small": {"hidden": 256, "layers": 4, "heads": 4, "ffn": 1024, "batch": 8, "seq": 128},
    "bert-base": {"hidden": 768, "layers": 12, "heads": 12, "ffn": 3072, "batch": 256, "seq": 128},
}


def main() -> None:
    import adapters
    import transformers as tf
    from adapters.composition import Average, BatchSplit, Fuse, Parallel, Split, Stack

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", default="bert-small", choices=sorted(SHAPES))
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    shape = SHAPES[args.shape]
    torch.manual_seed(0)
    config = tf.BertConfig(
        hidden_size=shape["hidden"],
        num_hidden_layers=shape["layers"],
        num_attention_heads=shape["heads"],
        intermediate_size=shape["ffn"],
    )
    model = tf.BertModel(config).eval()
    adapters.init(model)
    names = [f"a{i}" for i in range(8)]
    for name in names:
        model.add_adapter(name, config="seq_bn")
    model.add_adapter_fusion(Fuse("a0", "a1", "a2"))
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for key, param in model.named_parameters():
            if ".adapters." in key:
                param.copy_(torch.randn(param.shape, generator=generator) * 0.02)
    model.eval()
    ids = torch.randint(
        5, config.vocab_size, (shape["batch"], shape["seq"]), generator=torch.Generator().manual_seed(1)
    )
    mask = torch.ones_like(ids)
    half = shape["seq"] // 2
    setups = {
        "one adapter": "a0",
        "stack(2)": Stack("a0", "a1"),
        "split(2)": Split("a0", "a1", splits=[half, shape["seq"] - half]),
        "batch_split(8)": BatchSplit(*names, batch_sizes=[shape["batch"] // 8] * 8),
        "parallel(2)": Parallel("a0", "a1"),
        "fuse(3)": Fuse("a0", "a1", "a2"),
        "average(2)": Average("a0", "a1"),
    }
    now = time.thread_time if torch.get_num_threads() == 1 else time.perf_counter

    def run(setup: Any) -> Callable[[], Any]:
        def call() -> Any:
            model.set_active_adapters(setup)
            return model(input_ids=ids, attention_mask=mask)

        return call

    runners = {"base": run(None), **{label: run(setup) for label, setup in setups.items()}}
    samples: dict[str, list[float]] = {label: [] for label in runners}
    with torch.inference_mode():
        for _ in range(args.warmup):
            for fn in runners.values():
                fn()
        for _ in range(args.rounds):
            for label, fn in runners.items():
                start = now()
                fn()
                samples[label].append(now() - start)
    times = {label: min(values) for label, values in samples.items()}
    print(
        f"adapters {adapters.__version__}, transformers {tf.__version__}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} CPU threads, min of {args.rounds} rounds "
        f"(median base {statistics.median(samples['base']) * 1e3:.1f} ms)\n"
    )
    print("| shape | batch × seq | composition | base ms | adapters × base |")
    print("|---|---|---|---|---|")
    for label, value in times.items():
        if label != "base":
            print(
                f"| {args.shape} | {shape['batch']} × {shape['seq']} | {label} | {times['base'] * 1e3:.1f} "
                f"| {value / times['base']:.2f}× |"
            )


if __name__ == "__main__":
    main()
