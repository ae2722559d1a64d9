"""Helpers for the TUI tests: real adapters in a real registry, and waiting on the app.

Adapters are registered with ``Registry.add_adapter`` from small files written here (a PEFT
layout: config, safetensors weights, optional model card), so the tests need no plugin.
"""

from __future__ import annotations

import asyncio
import json
import struct
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from time import monotonic

from textual.message import Message
from textual.pilot import Pilot
from textual.worker import WorkerFailed

from hubcli.tui.adapter_table import AdapterTable
from hubcli.tui.app import HubcliApp
from hubcli.tui.jobs import Job
from hubcli.tui.registry_actions import JobFinished
from registry import Evaluation, NewAdapter, NewFile, Registry


def safetensors_bytes(tensors: dict[str, list[int]]) -> bytes:
    """A valid safetensors file of zero-filled float32 tensors with the given shapes."""
    header, offset = {}, 0
    for name, shape in tensors.items():
        size = 4
        for dim in shape:
            size *= dim
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + size]}
        offset += size
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    return struct.pack("<Q", len(raw)) + raw + bytes(offset)


def write_peft_folder(folder: Path, *, base_model: str, rank: int = 2, card: str | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    config = {
        "peft_type": "LORA",
        "r": rank,
        "lora_alpha": 2 * rank,
        "target_modules": ["query", "value"],
        "base_model_name_or_path": base_model,
        "task_type": "SEQ_CLS",
    }
    (folder / "adapter_config.json").write_text(json.dumps(config))
    (folder / "adapter_model.safetensors").write_bytes(
        safetensors_bytes(
            {
                "base_model.model.encoder.layer.0.attention.self.query.lora_A.weight": [rank, 8],
                "base_model.model.encoder.layer.0.attention.self.query.lora_B.weight": [8, rank],
            }
        )
    )
    if card is not None:
        (folder / "README.md").write_text(card)
    return folder


def register(
    registry: Registry,
    workdir: Path,
    name: str,
    *,
    base_model: str = "bert-base-uncased",
    architecture: str = "lora",
    rank: int = 2,
    tags: tuple[str, ...] = (),
    card: str | None = None,
) -> None:
    folder = write_peft_folder(workdir / name, base_model=base_model, rank=rank, card=card)
    files = [
        NewFile("adapter_config.json", "config", folder / "adapter_config.json"),
        NewFile("adapter_model.safetensors", "weights", folder / "adapter_model.safetensors"),
    ]
    if card is not None:
        files.append(NewFile("README.md", "card", folder / "README.md"))
    registry.add_adapter(
        NewAdapter(
            name=name,
            architecture=architecture,
            format="peft",
            source_kind="disk",
            source=str(folder),
            files=files,
            method_config={"r": rank, "alpha": 2 * rank},
            base_model=base_model,
            model_type="bert",
            hidden_size=8,
            task="SEQ_CLS",
            num_parameters=16 * rank,
            tags=list(tags),
        )
    )


def add_sample_adapters(registry: Registry, workdir: Path) -> None:
    """Three adapters over two base models and two architectures, one with a card and scores."""
    register(
        registry,
        workdir,
        "sentiment-lora",
        tags=("prod", "sentiment"),
        rank=4,
        card="# Sentiment LoRA\n\nTrained on **SST-2**.\n",
    )
    register(registry, workdir, "ner-lora", base_model="roberta-base", tags=("ner",))
    register(registry, workdir, "qa-bottleneck", architecture="bottleneck", rank=8)
    sentiment = registry.get_adapter("sentiment-lora")
    registry.add_evaluations(
        [
            Evaluation(
                adapter_id=sentiment.id,
                target="sentiment-lora",
                dataset="sst2",
                split="validation",
                metric="accuracy",
                value=0.91,
                n=872,
            ),
        ]
    )


LONG_LIVED_WORKER_GROUPS = ("_loader",)
"""Workers that wait for work as long as their widget lives (DirectoryTree's loader)."""


def table_names(app: HubcliApp) -> list[str]:
    table = app.query_one(AdapterTable)
    return [str(table.get_row_at(i)[0]) for i in range(table.row_count)]


def collect_messages(into: list[Message]) -> Callable[[Message], None]:
    def hook(message: Message) -> None:
        into.append(message)

    return hook


def finished_jobs(messages: list[Message]) -> list[Job]:
    """Jobs whose JobFinished message the app processed, in order."""
    return [m.job for m in messages if isinstance(m, JobFinished)]


async def settle(pilot: Pilot, until: Callable[[], bool] | None = None, timeout: float = 10.0) -> None:
    """Let the app process its messages and finish its workers, until ``until()`` holds.

    Timers (the filter's debounce) need real time to pass, so this polls with short pauses,
    bounded by ``timeout``; it returns as soon as the condition is met.
    """
    deadline = monotonic() + timeout
    while True:
        await pilot.pause()
        workers = [w for w in pilot.app.workers if w.group not in LONG_LIVED_WORKER_GROUPS]
        if workers:  # an empty list would mean "wait for all"
            with suppress(WorkerFailed):  # the app reports failures itself (error dialogs)
                await pilot.app.workers.wait_for_complete(workers)
        await pilot.pause()
        if until is None or until():
            return
        if monotonic() > deadline:
            raise AssertionError("the app did not reach the expected state in time")
        await asyncio.sleep(0.01)
