"""``hubcli compare`` and ``hubcli similar``: how far apart adapters are, in weight space
(ΔW distances, a 2-D map) or in what they compute (layer-by-layer CKA on a dataset).

Everything heavy (torch, the engine, matplotlib) is imported inside the commands.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from hubcli.cli.context import state
from hubcli.cli.output import JsonFlag, console, counted_progress, emit, err_console

if TYPE_CHECKING:
    from hubcli.analysis.representations import LayerCka
    from hubcli.analysis.weights import DistanceReport

app = typer.Typer()

MetricOption = Annotated[
    str,
    typer.Option(
        "--metric",
        "-m",
        help="l2 (Frobenius norm of ΔW₁−ΔW₂), cosine (1 − cosine similarity) or grassmann "
        "(principal angles between the column spaces of ΔW; LoRA only).",
    ),
]
MatricesOption = Annotated[
    str,
    typer.Option(
        "--matrices", help="Modules to compare: 'all', or short/module names such as q,v or query,value."
    ),
]


def _check_metric(metric: str) -> None:
    from hubcli.analysis.weights import METRICS

    if metric not in METRICS:
        raise typer.BadParameter(f"choose one of {', '.join(METRICS)}", param_hint="--metric")


def _matrices(value: str) -> list[str] | None:
    names = [part.strip() for part in value.split(",") if part.strip()]
    return None if not names or names == ["all"] else names


def _rounded(matrix: Any) -> list[list[float]]:
    return [[round(float(v), 6) for v in row] for row in matrix]


@app.command("compare")
def compare(
    names: Annotated[
        list[str],
        typer.Argument(
            help="Adapters to compare (two or more); with --cka: BASE SPEC_A SPEC_B.", show_default=False
        ),
    ],
    metric: MetricOption = "l2",
    matrices: MatricesOption = "all",
    per_layer: Annotated[bool, typer.Option("--per-layer", help="Also one matrix per layer.")] = False,
    plot: Annotated[
        Path | None, typer.Option("--plot", help="Write a figure (.png, .svg or .pdf; needs matplotlib).")
    ] = None,
    cka: Annotated[
        bool,
        typer.Option(
            "--cka",
            help="Representation similarity instead: linear CKA between every pair of hidden states of "
            "two models on --dataset. SPEC is 'base' or adapter names joined by '+' (stacked).",
        ),
    ] = False,
    dataset: Annotated[
        Path | None,
        typer.Option(
            "--dataset",
            help="--cka inputs: a .csv, .tsv, .json, .jsonl, .parquet or .txt file (text column or input_ids).",
        ),
    ] = None,
    layers: Annotated[
        str,
        typer.Option(
            "--layers", help="--cka: hidden states to compare (0 = embeddings), e.g. 0,6,12; or all."
        ),
    ] = "all",
    pool: Annotated[
        str, typer.Option("--pool", help="--cka: one example per sequence (mean) or per token (tokens).")
    ] = "mean",
    column: Annotated[str, typer.Option("--column", help="--cka: the dataset's text column.")] = "text",
    limit: Annotated[int, typer.Option("--limit", min=4, help="--cka: examples to use at most.")] = 512,
    batch_size: Annotated[int, typer.Option("--batch-size", min=4, help="--cka: examples per batch.")] = 32,
    max_length: Annotated[int, typer.Option("--max-length", min=1, help="--cka: tokens per example.")] = 128,
    as_json: JsonFlag = False,
) -> None:
    """Distances between adapters' weight updates, with a 2-D map; or, with --cka, layer-by-layer
    similarity of two models on a dataset."""
    if cka:
        if len(names) != 3 or dataset is None:
            raise typer.BadParameter("--cka takes BASE SPEC_A SPEC_B and needs --dataset", param_hint="NAMES")
        options = {
            "pool": pool,
            "column": column,
            "limit": limit,
            "batch_size": batch_size,
            "max_length": max_length,
        }
        _compare_cka(*names, dataset=dataset, layers=layers, plot=plot, as_json=as_json, **options)
        return
    if len(set(names)) < 2:
        raise typer.BadParameter("give at least two different adapters", param_hint="NAMES")
    _check_metric(metric)
    from hubcli.services.comparing import CompareRequest
    from hubcli.services.comparing import compare as compare_adapters

    result = compare_adapters(state.registry(), CompareRequest(names, metric, _matrices(matrices)))
    report = result.report
    mean = report.mean()
    coords, explained = result.map()
    layers_of = report.per_layer() if per_layer else None
    if plot is not None:
        from hubcli.analysis.plots import plot_distances

        plot_distances(plot, report.rows, mean, coords, explained, metric=metric, per_layer=layers_of)
    data: dict[str, Any] = {
        "metric": metric,
        "adapters": report.rows,
        "modules": list(report.per_module),
        "matrix": _rounded(mean),
        "map": {
            "coordinates": {
                n: [round(float(v), 6) for v in xy] for n, xy in zip(report.rows, coords, strict=True)
            },
            "explained": [round(float(v), 4) for v in explained],
        },
    }
    if layers_of is not None:
        data["per_layer"] = {layer: _rounded(m) for layer, m in layers_of.items()}
    if plot is not None:
        data["plot"] = str(plot)
    emit(data, as_json, lambda d: _render_distances(d, report))


def _render_distances(data: dict[str, Any], report: DistanceReport) -> None:
    from rich.table import Table

    from hubcli.analysis.terminal import heatmap

    names = data["adapters"]
    title = f"{data['metric']} distance, mean over {len(report.per_layer())} layers ({len(data['modules'])} modules)"
    console.print(heatmap(data["matrix"], names, names, title=title))
    for layer, matrix in data.get("per_layer", {}).items():
        console.print(heatmap(matrix, names, names, title=f"{data['metric']} distance, {layer}"))
    explained = data["map"]["explained"]
    table = Table(title=f"2-D map (classical MDS; axes explain {explained[0]:.0%} and {explained[1]:.0%})")
    for heading in ("adapter", "x", "y"):
        table.add_column(heading, justify="left" if heading == "adapter" else "right")
    for name, (x, y) in data["map"]["coordinates"].items():
        table.add_row(name, f"{x:.4f}", f"{y:.4f}")
    console.print(table)
    if "plot" in data:
        console.print(f"plot written to {data['plot']}")


def _parse_layers(value: str) -> list[int] | None:
    if value.strip() in ("", "all"):
        return None
    try:
        return [int(part) for part in value.split(",") if part.strip()]
    except ValueError:
        raise typer.BadParameter(
            f"expected 'all' or hidden-state numbers like 0,6,12, got {value!r}"
        ) from None


def _compare_cka(
    base: str,
    spec_a: str,
    spec_b: str,
    *,
    dataset: Path,
    layers: str,
    plot: Path | None,
    as_json: bool,
    pool: str,
    column: str,
    limit: int,
    batch_size: int,
    max_length: int,
) -> None:
    from hubcli.analysis.representations import layer_label
    from hubcli.services.comparing import CKA_STAGE, CkaRequest, cka

    request = CkaRequest(
        base,
        spec_a,
        spec_b,
        dataset,
        layers=_parse_layers(layers),
        pool=pool,
        column=column,
        limit=limit,
        batch_size=batch_size,
        max_length=max_length,
    )
    with counted_progress(CKA_STAGE) as progress:
        result = cka(state.registry(), request, progress)
    rows = [layer_label(i) for i in result.layers_a]
    columns = [layer_label(i) for i in result.layers_b]
    diagonal = {layer_label(i): round(v, 6) for i, v in result.diagonal().items()}
    if plot is not None:
        from hubcli.analysis.plots import plot_cka

        plot_cka(plot, result.matrix, rows, columns, diagonal, name_a=spec_a, name_b=spec_b)
    data: dict[str, Any] = {
        "base": base,
        "a": spec_a,
        "b": spec_b,
        "dataset": str(dataset),
        "pool": pool,
        "examples": result.examples,
        "batches": result.batches,
        "layers_a": rows,
        "layers_b": columns,
        "matrix": _rounded(result.matrix),
        "diagonal": diagonal,
    }
    if plot is not None:
        data["plot"] = str(plot)
    emit(data, as_json, lambda d: _render_cka(d, result))


def _render_cka(data: dict[str, Any], result: LayerCka) -> None:
    from hubcli.analysis.terminal import heatmap

    title = f"linear CKA: {data['a']} (rows) vs {data['b']} (columns)"
    console.print(heatmap(data["matrix"], data["layers_a"], data["layers_b"], title=title, low=0.0, high=1.0))
    console.print(f"{data['examples']} examples ({data['pool']} pooling) in {data['batches']} batches")
    depth = ", ".join(f"{layer} {value:.3f}" for layer, value in data["diagonal"].items())
    console.print(f"same depth: {depth}")
    if result.batches * 4 > result.examples:
        console.print("[yellow]note:[/] small batches make the minibatch estimate noisy (use --batch-size)")
    if "plot" in data:
        console.print(f"plot written to {data['plot']}")


@app.command("similar")
def similar(
    name: Annotated[str, typer.Argument(help="The adapter to find neighbours of.", show_default=False)],
    metric: MetricOption = "l2",
    matrices: MatricesOption = "all",
    top: Annotated[int, typer.Option("--top", "-k", min=1, help="How many neighbours to show.")] = 10,
    as_json: JsonFlag = False,
) -> None:
    """The registry adapters nearest to NAME in weight space (same method and base model)."""
    from hubcli.services.comparing import SimilarRequest
    from hubcli.services.comparing import similar as nearest

    _check_metric(metric)
    result = nearest(state.registry(), SimilarRequest(name, metric, _matrices(matrices), top))
    data = {
        "adapter": name,
        "metric": metric,
        "neighbours": [
            {"name": n.name, "distance": round(n.distance, 6), "modules": n.modules}
            for n in result.neighbours
        ],
        "skipped": result.skipped,
    }
    emit(data, as_json, _render_similar)


def _render_similar(data: dict[str, Any]) -> None:
    from rich.table import Table

    if not data["neighbours"]:
        console.print(f"no adapter of the same method and base model to compare {data['adapter']!r} with")
    else:
        table = Table(title=f"nearest to {data['adapter']} ({data['metric']} distance)")
        for heading in ("#", "adapter", "distance", "modules"):
            table.add_column(heading, justify="left" if heading == "adapter" else "right")
        for rank, row in enumerate(data["neighbours"], 1):
            table.add_row(str(rank), row["name"], f"{row['distance']:.4f}", str(row["modules"]))
        console.print(table)
    for other, reason in data["skipped"].items():
        err_console.print(f"[yellow]skipped[/] {other}: {reason}", soft_wrap=True)


@app.command("merge-hint")
def merge_hint(
    a: Annotated[str, typer.Argument(help="A LoRA adapter.", show_default=False)],
    b: Annotated[str, typer.Argument(help="Another LoRA on the same base model.", show_default=False)],
    dataset: Annotated[
        str, typer.Option("--dataset", "-d", help="Where to measure the drop: any `hubcli eval` dataset.")
    ],
    metric: MetricOption = "grassmann",
    matrices: MatricesOption = "all",
    score: Annotated[
        str | None,
        typer.Option(
            "--score", help="Metric whose drop is stored (default: the task's first, e.g. accuracy)."
        ),
    ] = None,
    split: Annotated[str | None, typer.Option("--split", help="Rows of this split.")] = None,
    task: Annotated[
        str | None, typer.Option("--task", help="As for `hubcli eval` (default: inferred).")
    ] = None,
    text_field: Annotated[str | None, typer.Option("--text-field")] = None,
    text_pair_field: Annotated[str | None, typer.Option("--text-pair-field")] = None,
    label_field: Annotated[str | None, typer.Option("--label-field")] = None,
    limit: Annotated[
        int | None, typer.Option("--limit", min=1, help="Evaluate the first N rows only.")
    ] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1)] = 32,
    device: Annotated[str, typer.Option("--device", help="cpu or cuda.")] = "cpu",
    as_json: JsonFlag = False,
) -> None:
    """Merge-compatibility hint: the distance between two LoRAs and how much worse their average
    (linear merge) scores on a dataset than they do; stored, so `hubcli merge-hints` can relate
    the two over many pairs. The average is removed from the registry afterwards."""
    _check_metric(metric)
    from hubcli.engine.loading import quiet_transformers
    from hubcli.services.evaluating import EvalRequest
    from hubcli.services.merge_hints import MergeHintRequest, measure

    request = EvalRequest(
        target=a,
        dataset=dataset,
        split=split,
        task=task,
        text_field=text_field,
        text_pair_field=text_pair_field,
        label_field=label_field,
        batch_size=batch_size,
        limit=limit,
        device=device,
    )
    with quiet_transformers(), err_console.status("merging and evaluating", spinner="dots"):
        hint = measure(state.registry(), MergeHintRequest(a, b, request, metric, _matrices(matrices), score))
    row = hint.row
    data = {
        "target": row.target,
        "adapters": list(hint.pair),
        "dataset": row.dataset,
        "split": row.split,
        "task": row.task,
        "n": row.n,
        "distance_metric": metric,
        "matrices": (row.extra or {})["matrices"],
        "distance": round(hint.distance, 6),
        "merge_method": (row.extra or {})["merge_method"],
        "scores": hint.scores,
        "drops": hint.drops,
        "stored": {"metric": row.metric, "value": row.value},
        "reused": hint.reused,
    }
    emit(data, as_json, _render_merge_hint)


def _render_merge_hint(data: dict[str, Any]) -> None:
    from rich.markup import escape
    from rich.table import Table

    a, b = data["adapters"]
    matrices = data["matrices"] if isinstance(data["matrices"], str) else ",".join(data["matrices"])
    distance = f"{data['distance_metric']} distance {data['distance']:.4f} (matrices {matrices})"
    console.print(escape(f"{a} vs {b}: {distance}"), soft_wrap=True)
    where = Path(data["dataset"]).name + (f" [{data['split']}]" if data["split"] else "")
    table = Table(title=escape(f"{data['merge_method']} average on {where}, n={data['n']}"))
    for heading in ("metric", a, b, "average", "drop"):
        table.add_column(escape(heading), justify="left" if heading == "metric" else "right")
    for metric, value in data["scores"]["average"].items():
        cells = [f"{data['scores'][name][metric]:.4f}" for name in (a, b)]
        table.add_row(metric, *cells, f"{value:.4f}", f"{data['drops'][metric]:+.4f}")
    console.print(table)
    if data["reused"]:
        console.print(escape(f"stored scores reused for {', '.join(data['reused'])}"), soft_wrap=True)
    stored = f"stored {data['stored']['metric']} = {data['stored']['value']:+.4f} as {data['target']}"
    console.print(escape(stored), soft_wrap=True)


@app.command("merge-hints")
def merge_hints(
    dataset: Annotated[str | None, typer.Option("--dataset", help="Only this dataset (as stored).")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Stored merge-compatibility hints: distance and drop of every measured pair, and their
    Spearman correlation where three or more pairs were measured alike."""
    from hubcli.analysis.hint_records import hint_groups

    groups = hint_groups(state.registry(), dataset)
    data = [
        {
            "dataset": group.dataset,
            "split": group.split,
            "task": group.task,
            "distance_metric": group.distance_metric,
            "matrices": group.matrices,
            "drop_metric": group.drop_metric,
            "pairs": [
                {
                    "adapters": (row.extra or {})["adapters"],
                    "distance": round(float((row.extra or {})["distance"]), 6),
                    "drop": row.value,
                }
                for row in group.rows
            ],
            "spearman": group.spearman,
        }
        for group in groups
    ]
    emit(data, as_json, _render_merge_hints)


def _render_merge_hints(groups: list[dict[str, Any]]) -> None:
    from rich.markup import escape
    from rich.table import Table

    if not groups:
        console.print("no merge hints stored (run `hubcli merge-hint A B --dataset FILE`)")
    for group in groups:
        where = Path(group["dataset"]).name + (f" [{group['split']}]" if group["split"] else "")
        title = f"merge hints on {where}: {group['distance_metric']} distance ({group['matrices']})"
        table = Table(title=escape(title))
        for heading in ("pair", "distance", group["drop_metric"]):
            table.add_column(heading, justify="left" if heading == "pair" else "right")
        for pair in group["pairs"]:
            names = escape(" + ".join(pair["adapters"]))
            table.add_row(names, f"{pair['distance']:.4f}", f"{pair['drop']:+.4f}")
        console.print(table)
        if group["spearman"] is not None:
            console.print(f"Spearman correlation of distance and drop: {group['spearman']:+.3f}")
        else:
            console.print("Spearman correlation: needs three pairs or more with varying values")
