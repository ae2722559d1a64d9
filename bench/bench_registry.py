"""The registry at scale: fill one with 100,000 realistic adapter rows (sharing blobs), then time
what a person waits for — ``hubcli --help``, ``hubcli list`` with filters and ``hubcli show`` as
whole cold processes — and the queries alone.

    python bench/bench_registry.py --home /tmp/hubcli-100k            # fills it on the first run
    python bench/bench_registry.py --home /tmp/hubcli-100k --rounds 5

Targets (issue 9): ``--help`` ≤ 0.35 s; ``list --base X --arch lora`` on 100,000 adapters
≤ 1.0 s as a whole process, the query itself ≤ 50 ms; importing a 100 MB adapter ≤ 2× copying
its files, re-importing identical content ≤ 0.3 s (plus start-up).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import insert

from registry import Registry
from registry.registry import search_text
from registry.schema import Adapter, AdapterFile, Blob, Tag, utcnow

ARCHITECTURES = ("lora", "bottleneck", "ia3", "prefix_tuning", "prompt_tuning")
BASES = [f"org-{i % 7}/model-{i}" for i in range(40)]
TASKS = ("SEQ_CLS", "TOKEN_CLS", "CAUSAL_LM", None)
SHARED_BLOBS = 500


def fill(registry: Registry, count: int) -> None:
    """``count`` adapters in one transaction; every adapter has a config and a weights file,
    drawn from ``SHARED_BLOBS`` stored blobs (identical files are stored once)."""
    blobs = []
    for i in range(SHARED_BLOBS):
        content = f"blob {i}".encode()
        sha = hashlib.sha256(content).hexdigest()
        path = registry.store.path(sha)
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(content)
        blobs.append((sha, len(content)))
    now = utcnow()
    adapters, files, tags = [], [], []
    for i in range(count):
        row = Adapter(
            id=i + 1,
            name=f"adapter-{i:06d}",
            architecture=ARCHITECTURES[i % 5],
            variant=None,
            method_config={"r": 8 << (i % 3)},
            format="peft" if i % 3 else "adapterhub",
            base_model=BASES[i % len(BASES)],
            model_type="bert",
            task=TASKS[i % 4],
            num_parameters=1000 + i,
            size_bytes=4096 + i,
            digest=f"{i:064x}",
            source_kind="disk",
            source=f"/data/adapters/{i}",
            created_at=now,
            updated_at=now,
        )
        row_tags = ["nightly"] if i % 100 == 0 else []
        row.search_text = search_text(row, row_tags)
        adapters.append(row.model_dump())
        for role, (sha, size) in (("config", blobs[i % 7]), ("weights", blobs[i % SHARED_BLOBS])):
            files.append({"adapter_id": i + 1, "path": role, "role": role, "sha256": sha, "size": size})
        tags += [{"adapter_id": i + 1, "name": t} for t in row_tags]
    with registry.engine.begin() as conn:
        conn.execute(insert(Blob), [{"sha256": sha, "size": size, "created_at": now} for sha, size in blobs])
        conn.execute(insert(Adapter), adapters)
        conn.execute(insert(AdapterFile), files)
        conn.execute(insert(Tag), tags)


def process_time(args: list[str], home: Path, rounds: int) -> float:
    """Median wall time of ``hubcli ARGS`` as a fresh process (start-up included)."""
    env = {**os.environ, "HUBCLI_HOME": str(home)}
    hubcli = Path(sys.executable).with_name("hubcli")
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        subprocess.run([str(hubcli), *args], env=env, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def query_time(call, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def import_times(scratch: Path) -> list[tuple[str, float]]:
    """A 100 MB PEFT LoRA (Llama-7B-like: hidden 4096, 24 layers, r=64 on q and v): copying its
    folder, importing it, importing it again."""
    import json
    import shutil

    import numpy as np
    from safetensors.numpy import save_file

    from hubcli.importer import import_adapter
    from hubcli.plugin_api import AdapterFolder

    folder = scratch / "big-lora"
    folder.mkdir(parents=True)
    config = {"peft_type": "LORA", "r": 64, "lora_alpha": 64, "target_modules": ["q_proj", "v_proj"]}
    (folder / "adapter_config.json").write_text(json.dumps(config))
    rng = np.random.default_rng(0)
    tensors = {}
    for layer in range(24):
        for module in ("q_proj", "v_proj"):
            path = f"base_model.model.model.layers.{layer}.self_attn.{module}"
            tensors[f"{path}.lora_A.weight"] = rng.standard_normal((64, 4096), dtype=np.float32)
            tensors[f"{path}.lora_B.weight"] = rng.standard_normal((4096, 64), dtype=np.float32)
    save_file(tensors, str(folder / "adapter_model.safetensors"))
    registry = Registry(scratch / "home")
    start = time.perf_counter()
    shutil.copytree(folder, scratch / "copy")
    copied = time.perf_counter() - start
    start = time.perf_counter()
    import_adapter(registry, AdapterFolder(folder))
    imported = time.perf_counter() - start
    start = time.perf_counter()
    import_adapter(registry, AdapterFolder(folder))
    again = time.perf_counter() - start
    return [
        ("copy the 100 MB adapter folder", copied),
        ("import it", imported),
        ("import it again (identical)", again),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    registry = Registry(args.home)
    if registry.count_adapters() == 0:
        start = time.perf_counter()
        fill(registry, args.count)
        print(f"filled {args.count} adapters in {time.perf_counter() - start:.1f} s")
    count = registry.count_adapters()
    base = BASES[3]
    rows = [
        ("`hubcli --help`", process_time(["--help"], args.home, args.rounds)),
        (
            f"`hubcli list --base {base} --arch lora`",
            process_time(["list", "--base", base, "--arch", "lora"], args.home, args.rounds),
        ),
        (
            "`hubcli list --search nightly --limit 50`",
            process_time(["list", "--search", "nightly", "--limit", "50"], args.home, args.rounds),
        ),
        ("`hubcli show adapter-054321`", process_time(["show", "adapter-054321"], args.home, args.rounds)),
        (
            "query: base + architecture",
            query_time(lambda: registry.list_adapters(base_model=base, architecture="lora"), args.rounds),
        ),
        (
            "query: search, first 200",
            query_time(lambda: registry.list_adapters(search="adapter-0999", limit=200), args.rounds),
        ),
        (
            "query: get one adapter + files + tags",
            query_time(lambda: registry.files(registry.get_adapter("adapter-054321")), args.rounds),
        ),
    ]
    print(
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.machine()}, {count:,} adapters, "
        f"SQLite, median of {args.rounds}\n"
    )
    print("| what | time |")
    print("|---|---|")
    import tempfile

    with tempfile.TemporaryDirectory() as scratch:
        rows += import_times(Path(scratch))
    for what, seconds in rows:
        print(f"| {what} | {seconds * 1000:.0f} ms |")


if __name__ == "__main__":
    main()
