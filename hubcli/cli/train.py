"""``hubcli train``: train a new adapter of a built-in architecture on a dataset (the base model
frozen), or a fusion over registered adapters, and register it with its scores. The work is
``hubcli.services.training``'s; this module parses the options and draws the step bar.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from hubcli.cli.context import state
from hubcli.cli.output import JsonFlag, console, emit
from hubcli.progress import Progress

app = typer.Typer()


def parse_options(pairs: list[str]) -> dict[str, str]:
    """``["r=8", "targets=q,v"]`` → ``{"r": "8", "targets": "q,v"}``."""
    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise typer.BadParameter(f"expected key=value, got {pair!r}", param_hint="--config")
        options[key.strip()] = value.strip()
    return options


@app.command("train")
def train_command(
    base: Annotated[str, typer.Option("--base", help="Base model: a local model folder or a Hub id.")],
    dataset: Annotated[
        str,
        typer.Option(
            "--dataset", "-d", help="CSV / JSONL / Parquet file (a 'split' column selects train/eval rows)."
        ),
    ],
    name: Annotated[str, typer.Option("--name", help="Name of the new adapter.")],
    arch: Annotated[
        str | None, typer.Option("--arch", help="lora, bottleneck, ia3, prefix_tuning or prompt_tuning.")
    ] = None,
    fuse: Annotated[
        str | None,
        typer.Option(
            "--fuse",
            help="Train an AdapterFusion over these registered bottleneck adapters (a,b,c) instead of a new adapter.",
        ),
    ] = None,
    config: Annotated[
        list[str] | None,
        typer.Option("--config", help="Architecture option key=value (repeatable), e.g. r=16."),
    ] = None,
    task: Annotated[
        str | None,
        typer.Option(
            "--task",
            help="classification, pair-classification, regression, token-classification or causal-lm.",
        ),
    ] = None,
    text_field: Annotated[str | None, typer.Option("--text-field")] = None,
    text_pair_field: Annotated[str | None, typer.Option("--text-pair-field")] = None,
    label_field: Annotated[str | None, typer.Option("--label-field")] = None,
    split: Annotated[
        str | None, typer.Option("--split", help="Training rows: this 'split' value (default train).")
    ] = None,
    eval_split: Annotated[
        str | None,
        typer.Option(
            "--eval-split", help="Evaluation rows (default validation/test/dev, else a 10 % holdout)."
        ),
    ] = None,
    epochs: Annotated[int, typer.Option("--epochs", min=1)] = 3,
    lr: Annotated[float, typer.Option("--lr", help="AdamW learning rate.")] = 1e-3,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1)] = 16,
    eval_every: Annotated[
        int | None,
        typer.Option("--eval-every", min=1, help="Steps between evaluations (default: each epoch)."),
    ] = None,
    patience: Annotated[
        int | None,
        typer.Option("--patience", min=1, help="Stop after this many evaluations without improvement."),
    ] = 3,
    max_steps: Annotated[
        int | None, typer.Option("--max-steps", min=1, help="Stop after this many optimiser steps.")
    ] = None,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    device: Annotated[str, typer.Option("--device", help="cpu or cuda.")] = "cpu",
    tag: Annotated[list[str] | None, typer.Option("--tag", help="Extra tag (repeatable).")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Train a new adapter of architecture --arch on a dataset (the base frozen) and register it;
    with --fuse a,b,c, train and register a fusion over those adapters instead."""
    if (arch is None) == (fuse is None):
        raise typer.BadParameter(
            "give either --arch ARCH (a new adapter) or --fuse a,b,c (a fusion)", param_hint="--arch"
        )
    if fuse is not None and config:
        raise typer.BadParameter(
            "--config sets a new adapter's options; a fusion has none", param_hint="--config"
        )
    from hubcli.cli.rate_bar import progress_bar
    from hubcli.engine.loading import quiet_transformers
    from hubcli.services.training import EVALUATED, TRAINING, TrainRequest, train
    from hubcli.train.loop import LoopSettings

    settings = LoopSettings(
        epochs=epochs,
        learning_rate=lr,
        batch_size=batch_size,
        eval_every=eval_every,
        patience=patience,
        max_steps=max_steps,
        seed=seed,
    )
    request = TrainRequest(
        arch or "fusion",
        base,
        dataset,
        name,
        task,
        parse_options(config or []),
        settings,
        split,
        eval_split,
        text_field,
        text_pair_field,
        label_field,
        device,
        tags=tuple(tag or ()),
        fuse=None if fuse is None else tuple(n.strip() for n in fuse.split(",") if n.strip()),
    )
    with quiet_transformers(), progress_bar("steps", quiet=as_json) as bar:
        job = bar.add_task(f"train {name}", total=None, note="")

        def show(event: Progress) -> None:
            if event.stage == TRAINING and event.detail:
                bar.update(job, completed=event.done, note=event.detail)
            elif event.stage == TRAINING:
                bar.update(job, total=event.total)
            elif event.stage == EVALUATED:
                bar.console.print(f"  {event.detail}")

        result = train(state.registry(), request, show)
    if request.fuse is not None:
        emit(result.as_dict(), as_json, _render_fusion)
        return

    def render(d: dict[str, Any]) -> None:
        early = ", stopped early" if d["stopped_early"] else ""
        console.print(
            f"✓ trained {d['name']!r} ({d['architecture']}, {d['trained_parameters']:,} trained parameters, "
            f"{d['steps']} steps{early})"
        )
        for branch in d["final"]["branches"]:
            console.print("  " + "  ".join(f"{k} {v:.4f}" for k, v in branch["scores"].items()))
        console.print(f"next: hubcli show {d['name']}  ·  hubcli evals --target {d['name']}")

    emit(result.as_dict(), as_json, render)


def _render_fusion(d: dict[str, Any]) -> None:
    console.print(
        f"✓ trained fusion {d['name']!r} ({d['trained_parameters']:,} trained parameters): {d['spec']}"
    )
    console.print("  untrained  " + "  ".join(f"{k} {v:.4f}" for k, v in d["untrained"].items()))
    for branch in d["final"]["branches"]:
        console.print("  trained    " + "  ".join(f"{k} {v:.4f}" for k, v in branch["scores"].items()))
    console.print(f'next: hubcli eval "{d["spec"]}" --dataset …  ·  hubcli evals --target "{d["spec"]}"')
