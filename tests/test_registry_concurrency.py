"""Eight processes importing and tagging into one registry at once, on SQLite and PostgreSQL."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest

from registry import NewAdapter, NewFile, Registry

WORKERS = 8
SHARED = 4
OWN = 3


def _adapter(folder: Path, name: str, content: str) -> NewAdapter:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "adapter_config.json").write_text('{"r": 4}')  # one blob shared by every adapter
    (folder / "w.safetensors").write_text(content)
    return NewAdapter(
        name=name,
        architecture="lora",
        format="peft",
        source_kind="disk",
        source=str(folder),
        files=[
            NewFile("adapter_config.json", "config", folder / "adapter_config.json"),
            NewFile("w.safetensors", "weights", folder / "w.safetensors"),
        ],
    )


def _writer(home: str, url: str | None, worker: int, root: str, start, results) -> None:
    registry = Registry(Path(home), url)
    mine = Path(root) / f"worker-{worker}"
    start.wait()
    created = []
    for k in range(SHARED):
        result = registry.add_adapter(_adapter(mine / f"shared-{k}", f"shared-{k}", f"same bytes {k}"))
        created.append((result.adapter.name, result.created))
    for k in range(OWN):
        registry.add_adapter(_adapter(mine / f"own-{k}", f"own-{worker}-{k}", f"worker {worker} {k}"))
    registry.set_tags("shared-0", add=[f"w{worker}", "common"])
    registry.close()
    results.put(created)


@pytest.mark.slow
def test_concurrent_writers_land_exactly_once(any_registry: Registry, tmp_path: Path) -> None:
    context = multiprocessing.get_context("spawn")
    start, results = context.Barrier(WORKERS), context.Queue()
    url = None if any_registry.url.startswith("sqlite") else any_registry.url
    processes = [
        context.Process(target=_writer, args=(str(any_registry.home), url, i, str(tmp_path), start, results))
        for i in range(WORKERS)
    ]
    for process in processes:
        process.start()
    outcomes = [results.get(timeout=120) for _ in processes]
    for process in processes:
        process.join(timeout=60)
        assert process.exitcode == 0

    assert any_registry.count_adapters() == SHARED + WORKERS * OWN
    for k in range(SHARED):
        creations = [created for outcome in outcomes for name, created in outcome if name == f"shared-{k}"]
        assert sorted(creations) == [False] * (WORKERS - 1) + [True], f"shared-{k} registered once"
    assert any_registry.tags(any_registry.get_adapter("shared-0")) == sorted(
        ["common", *(f"w{i}" for i in range(WORKERS))]
    )
    report = any_registry.verify()
    assert report.ok and report.cleanup.orphan_blobs == 0
    assert report.checked == len(set(any_registry.store.all_blobs())) == 1 + SHARED + WORKERS * OWN
