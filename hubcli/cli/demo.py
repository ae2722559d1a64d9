"""``hubcli demo``: train, merge, compose, register and score adapters on a bundled base model
and dataset, offline (``hubcli.services.demo`` does it); then show what to try next."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from hubcli.cli.context import state
from hubcli.cli.output import JsonFlag, console, emit, err_console
from hubcli.progress import Progress

app = typer.Typer()

NEXT = (
    ("hubcli list", "the registered adapters"),
    ("hubcli show demo-sentiment-merged", "one adapter: config, files, provenance, scores"),
    ("hubcli evals", "every stored score as a comparison table"),
    ("hubcli list --compositions", "saved compositions"),
    (
        'hubcli predict {base} demo-sentiment-lora --text "What a lovely evening!"',
        "run it on your own sentence",
    ),
    ("hubcli eval demo-sentiment-bottleneck --dataset {dataset} --split test", "score it again"),
    ("hubcli", "the terminal UI"),
)


@app.command("demo")
def demo_command(
    steps: Annotated[
        int | None,
        typer.Option("--steps", min=1, help="Cap every training run at this many steps (quick try)."),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Offline first run: train, merge and compose adapters on a bundled model and dataset, score them."""
    from hubcli.services.demo import DemoRequest, run_demo

    def say(event: Progress) -> None:
        if not as_json:
            err_console.print(f"{event.stage} {event.detail} …")

    report = run_demo(state.registry(), DemoRequest(max_steps=steps), say)

    def render(d: dict[str, Any]) -> None:
        for line in d["done"]:
            console.print(f"✓ {line}")
        table = Table(box=None, header_style="bold", title="sentiment.csv, test split (100 sentences)")
        for column in ("target", "what", "params", "accuracy", "f1_macro"):
            table.add_column(column, justify="left" if column in ("target", "what") else "right")
        for row in d["table"]:
            table.add_row(
                row["target"],
                row["kind"],
                f"{row['parameters']:,}" if row["parameters"] else "",
                *(f"{row[m]:.3f}" if m in row else "" for m in ("accuracy", "f1_macro")),
            )
        console.print(table)
        console.print("\n[bold]next[/]")
        for command, why in NEXT:
            console.print(
                f"  {command.format(base=d['base'], dataset=d['dataset'])}  [dim]# {why}[/]", soft_wrap=True
            )

    emit(report.as_dict(), as_json, render)
