"""``hubcli merge A B … --name NEW``: a new registry adapter from a weight-space merge of others.

Options are checked before torch is imported (``hubcli.merge.spec``); the merge itself is
``hubcli.services.merging``'s. See docs/merge.md for the methods and why LoRA is merged on ΔW.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from hubcli.cli.context import state
from hubcli.cli.output import JsonFlag, console, emit

app = typer.Typer()


@app.command()
def merge(
    sources: Annotated[list[str], typer.Argument(help="Registry adapters to merge (two or more).")],
    name: Annotated[str, typer.Option("--name", "-n", help="Name of the new adapter.")],
    method: Annotated[
        str,
        typer.Option(
            "--method", "-m", help="linear | task_arithmetic | ties | dare_linear | dare_ties | svd."
        ),
    ] = "linear",
    weights: Annotated[
        str | None,
        typer.Option("--weights", "-w", help="One weight per input, e.g. 0.7,0.3 (linear normalises them)."),
    ] = None,
    density: Annotated[
        float,
        typer.Option("--density", help="TIES/DARE: fraction of entries kept (DARE drops with 1 − density)."),
    ] = 0.5,
    rank: Annotated[
        int | None,
        typer.Option(
            "--rank",
            "-r",
            help="LoRA: truncate the merged ΔW to this rank by SVD (default: exact for linear and "
            "task_arithmetic, the largest input rank for svd, the sum of ranks otherwise).",
        ),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="DARE: seed of the drop masks.")] = 0,
    as_json: JsonFlag = False,
) -> None:
    """Merge adapters into a new one (LoRA on ΔW = s·B·A, IA³, bottleneck averaging)."""
    from hubcli.merge.spec import make_spec, parse_weights

    spec = make_spec(
        len(sources),
        method=method,
        weights=parse_weights(weights),
        density=density,
        rank=rank,
        seed=seed,
    )
    from hubcli.services.merging import merge_adapters

    outcome = merge_adapters(state.registry(), name, sources, spec)

    def render(report: dict[str, Any]) -> None:
        console.print(f"[green]✓[/] registered {report['name']!r}: {report['description']}")
        if report.get("factoring") == "svd":
            console.print(
                f"  {report['modules']} modules, rank {'/'.join(map(str, report['ranks']))}, "
                f"relative Frobenius error {report['relative_frobenius_error']:.3g} "
                f"(worst module {report['max_module_relative_error']:.3g})"
            )
        elif "approximation" in report:
            console.print(f"  note: {report['approximation']}")

    emit(outcome.report, as_json, render)
