"""``hubcli eval TARGET --dataset D``: score an adapter, a composition or a recipe on a dataset
and store the scores; ``hubcli evals``: the stored scores as a comparison table.

The work is ``hubcli.services.evaluating``'s (torch, transformers, scikit-learn and datasets
are imported inside it only); ``evals`` reads the registry and nothing else.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from hubcli.cli.context import state
from hubcli.cli.output import JsonFlag, console, emit
from hubcli.progress import Progress

app = typer.Typer()

BARE_LABEL = "(base model)"


@app.command("eval")
def eval_command(
    target: Annotated[
        str,
        typer.Argument(help="Adapter name, composition spec, recipe name, or '-' for the bare base model."),
    ],
    dataset: Annotated[
        str,
        typer.Option(
            "--dataset",
            "-d",
            help="CSV / JSONL / Parquet file, or a Hugging Face dataset id (needs hubcli[datasets]).",
        ),
    ],
    split: Annotated[
        str | None,
        typer.Option("--split", help="Rows whose 'split' column has this value (Hub datasets: the split)."),
    ] = None,
    task: Annotated[
        str | None,
        typer.Option(
            "--task",
            help="classification, pair-classification, regression, token-classification or causal-lm (default: from the adapter and the data).",
        ),
    ] = None,
    text_field: Annotated[
        str | None,
        typer.Option("--text-field", help="Column of the text (token classification: the word list)."),
    ] = None,
    text_pair_field: Annotated[
        str | None, typer.Option("--text-pair-field", help="Column of the second text (pair classification).")
    ] = None,
    label_field: Annotated[
        str | None, typer.Option("--label-field", help="Column of the label (or tag list).")
    ] = None,
    metric: Annotated[
        list[str] | None, typer.Option("--metric", help="Keep only this metric (repeatable).")
    ] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1)] = 32,
    limit: Annotated[
        int | None, typer.Option("--limit", min=1, help="Evaluate the first N rows only.")
    ] = None,
    device: Annotated[str, typer.Option("--device", help="cpu or cuda.")] = "cpu",
    dtype: Annotated[str, typer.Option("--dtype", help="float32, bfloat16 or float16.")] = "float32",
    base: Annotated[
        str | None, typer.Option("--base", help="Base model (default: the adapter's or recipe's).")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Evaluate TARGET on a dataset, store one row per metric, print the scores."""
    from hubcli.cli.rate_bar import progress_bar
    from hubcli.engine.loading import quiet_transformers
    from hubcli.services.evaluating import SCORING, EvalRequest, evaluate

    request = EvalRequest(
        target=target,
        dataset=dataset,
        split=split,
        task=task,
        text_field=text_field,
        text_pair_field=text_pair_field,
        label_field=label_field,
        metrics=metric or (),
        batch_size=batch_size,
        limit=limit,
        device=device,
        dtype=dtype,
        base=base,
    )
    with quiet_transformers(), progress_bar("rows", quiet=as_json) as bar:
        jobs: list[Any] = []  # the bar appears once the rows are ready: a refusal before prints none

        def show(event: Progress) -> None:
            if event.stage != SCORING:
                return
            if not jobs:
                jobs.append(bar.add_task(f"eval {target}", total=event.total, note=""))
            bar.update(jobs[0], completed=event.done)

        result = evaluate(state.registry(), request, show)

    def render(d: dict[str, Any]) -> None:
        where = Path(d["dataset"]).name + (f" [{d['split']}]" if d["split"] else "")
        shown = BARE_LABEL if d["target"] == "-" else d["target"]
        console.print(escape(f"{shown}: {d['task']} on {where}, n={d['n']}"), soft_wrap=True)
        console.print(f"  base {d['base']}", soft_wrap=True)
        for branch in d["branches"]:
            prefix = f"  {branch['branch']}: " if branch["branch"] else "  "
            console.print(prefix + "  ".join(f"{k} {v:.4f}" for k, v in branch["scores"].items()))

    emit(result.as_dict(), as_json, render)


def _row_dict(evaluation: Any) -> dict[str, Any]:
    data = evaluation.model_dump(exclude={"adapter_id"})
    data["branch"] = (evaluation.extra or {}).get("branch")
    return data


def comparison(rows: list[dict[str, Any]]) -> tuple[list[str], list[dict[str, Any]]]:
    """(metric columns, one line per target × branch × base × dataset × split × task × dtype);
    a later evaluation of the same line replaces an earlier one."""
    metric_names: list[str] = []
    lines: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in rows:
        key = (
            row["target"],
            row["branch"],
            row["base_model"],
            row["dataset"],
            row["split"],
            row["task"],
            row["dtype"],
        )
        line = lines.setdefault(
            key,
            {
                "target": row["target"],
                "branch": row["branch"],
                "base_model": row["base_model"],
                "dataset": row["dataset"],
                "split": row["split"],
                "task": row["task"],
                "dtype": row["dtype"],
                "n": row["n"],
                "scores": {},
            },
        )
        line["scores"][row["metric"]] = row["value"]
        line["n"] = row["n"]
        if row["metric"] not in metric_names:
            metric_names.append(row["metric"])
    return metric_names, list(lines.values())


def _shown(line: dict[str, Any]) -> str:
    """The target as the table names it: the bare base spelled out, branch and dtype added."""
    shown = BARE_LABEL if line["target"] == "-" else line["target"]
    if line["branch"]:
        shown += f" › {line['branch']}"
    if line["dtype"] not in (None, "float32"):
        shown += f" ({line['dtype']})"
    return shown


def _where(line: dict[str, Any]) -> str:
    """A local dataset by its file name (the full path is in --json), with the split."""
    stored = Path(line["dataset"])
    return (stored.name if stored.exists() else line["dataset"]) + (
        f" [{line['split']}]" if line["split"] else ""
    )


@app.command("evals")
def evals_command(
    target: Annotated[str | None, typer.Option("--target", help="Only this target.")] = None,
    dataset: Annotated[str | None, typer.Option("--dataset", help="Only this dataset (as stored).")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Stored evaluations as a comparison table, one column per metric (the latest run wins)."""
    rows = [_row_dict(e) for e in state.registry().evaluations(target=target, dataset=dataset)]

    def render(items: list[dict[str, Any]]) -> None:
        if not items:
            console.print("no evaluations (run `hubcli eval TARGET --dataset FILE`)")
            return
        names, lines = comparison(items)
        wheres = {(_where(line), line["task"] or "") for line in lines}
        shared = len(wheres) == 1  # one dataset and task: say it once, in the title
        table = Table(
            box=None, header_style="bold", title=escape(" · ".join(next(iter(wheres)))) if shared else None
        )
        longest = max(len(_shown(line)) for line in lines)
        table.add_column(
            "target", no_wrap=True, overflow="ellipsis", min_width=min(longest, 24), max_width=60
        )
        for column, widest in (("dataset", 24), ("task", 14))[: 0 if shared else 2]:
            table.add_column(column, no_wrap=True, overflow="ellipsis", max_width=widest)
        for column in ("n", *names):
            table.add_column(column, justify="right", no_wrap=True, min_width=max(4, len(column)))
        for line in lines:
            cells = [f"{line['scores'][m]:.4f}" if m in line["scores"] else "" for m in names]
            described = [] if shared else [escape(_where(line)), line["task"] or ""]
            table.add_row(escape(_shown(line)), *described, str(line["n"]), *cells)
        console.print(table)

    emit(rows, as_json, render)
