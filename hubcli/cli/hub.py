"""Commands that talk to the Hugging Face Hub: pull, push, search.

Thin wrappers over ``hubcli.services`` (pulling, pushing, searching): parse options, draw
progress on stderr, render the report. huggingface_hub is imported inside the commands only
(``hubcli --help`` must not load it).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from hubcli.cli.adapters import adapter_dict
from hubcli.cli.context import state
from hubcli.cli.output import JsonFlag, console, emit, err_console
from hubcli.formatting import architecture_label, human_count, human_size

if TYPE_CHECKING:
    from hubcli.progress import Progress, ProgressCallback

app = typer.Typer()

EndpointOption = Annotated[
    str | None,
    typer.Option(
        "--endpoint", envvar="HF_ENDPOINT", help="Hub URL (default: HF_ENDPOINT or https://huggingface.co)."
    ),
]


@contextmanager
def progress_bars(enabled: bool) -> Iterator[ProgressCallback]:
    """A progress callback drawing one rich line on stderr (stage, and bytes while
    transferring); nothing when disabled or when stderr is not a terminal (logs and pipes get
    the final report only)."""
    from rich import progress as rich_progress

    if not enabled or not err_console.is_terminal:
        yield lambda _: None
        return
    bars = rich_progress.Progress(
        rich_progress.TextColumn("{task.description}"),
        rich_progress.BarColumn(),
        rich_progress.DownloadColumn(),
        rich_progress.TransferSpeedColumn(),
        console=err_console,
        transient=True,
    )
    task = bars.add_task("", total=None)

    def report(event: Progress) -> None:
        bars.update(
            task, description=f"{event.stage} {event.detail}".strip(), completed=event.done, total=event.total
        )

    with bars:
        yield report


@app.command()
def pull(
    repo: Annotated[str, typer.Argument(help="Hub repository, namespace/name[@revision].")],
    revision: Annotated[
        str | None, typer.Option("--revision", "-r", help="Branch, tag or commit sha (default: main).")
    ] = None,
    name: Annotated[str | None, typer.Option("--name", "-n", help="Register under this name.")] = None,
    subfolder: Annotated[
        str | None, typer.Option("--subfolder", help="Pull only the adapter in this sub-folder.")
    ] = None,
    all_: Annotated[bool, typer.Option("--all", help="Pull every adapter of the repository.")] = False,
    endpoint: EndpointOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Download adapters from a Hub repository and register them (cached; repeats are free)."""
    from hubcli.services.pulling import PullRequest
    from hubcli.services.pulling import pull as pull_adapters

    registry = state.registry()
    request = PullRequest(repo, revision, name, subfolder=subfolder, every=all_, endpoint=endpoint)
    with progress_bars(not as_json) as on_progress:
        report = pull_adapters(registry, request, on_progress)
    data = {
        "repo_id": report.ref.repo_id,
        "revision": report.ref.revision or "main",
        "commit": report.commit,
        "endpoint": report.endpoint,
        "offline": report.offline,
        "bytes_downloaded": report.bytes_downloaded,
        "up_to_date": report.up_to_date,
        "adapters": [
            {
                "subfolder": item.subfolder,
                "created": item.outcome.created,
                "message": item.outcome.message,
                "adapter": adapter_dict(item.outcome.adapter, registry.tags(item.outcome.adapter)),
            }
            for item in report.adapters
        ],
    }

    def render(d: dict[str, Any]) -> None:
        where = f"{d['repo_id']}@{d['revision']} ({d['commit'][:12]})"
        for item in report.adapters:
            a = item.outcome.adapter
            if item.up_to_date:
                console.print(f"[yellow]=[/] {a.name}: up to date with {where}")
            else:
                console.print(
                    f"[green]✓[/] pulled {where} as {a.name!r}: {architecture_label(a.architecture, a.variant)}, "
                    f"{a.format}, {human_count(a.num_parameters)} parameters, {human_size(a.size_bytes)}"
                )
        source = (
            "from the local cache (offline)"
            if d["offline"]
            else f"{human_size(d['bytes_downloaded'])} downloaded"
        )
        console.print(f"[dim]{source}[/]")

    emit(data, as_json, render)


@app.command()
def push(
    name: Annotated[str, typer.Argument(help="Adapter name, as `hubcli list` shows it.")],
    repo: Annotated[str, typer.Argument(help="Hub repository, namespace/name (created if missing).")],
    fmt: Annotated[
        str | None, typer.Option("--format", "-f", help="peft or adapterhub (default: the stored format).")
    ] = None,
    private: Annotated[bool, typer.Option("--private", help="Create the repository as private.")] = False,
    revision: Annotated[
        str | None, typer.Option("--revision", "-r", help="Branch to push to (default: main).")
    ] = None,
    create_pr: Annotated[
        bool, typer.Option("--create-pr", help="Open a pull request instead of committing.")
    ] = False,
    endpoint: EndpointOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Upload an adapter with a generated model card in one commit (no commit when unchanged)."""
    from hubcli.services.pushing import PushRequest
    from hubcli.services.pushing import push as push_adapter

    request = PushRequest(
        name, repo, format=fmt, private=private, revision=revision, create_pr=create_pr, endpoint=endpoint
    )
    with progress_bars(not as_json) as on_progress:
        report = push_adapter(state.registry(), request, on_progress)

    def render(d: dict[str, Any]) -> None:
        where = f"{d['repo_id']}@{d['revision']} ({d['commit'][:12]})"
        if d["up_to_date"]:
            console.print(f"[yellow]=[/] {d['name']}: up to date with {where}, nothing pushed")
        else:
            console.print(
                f"[green]✓[/] pushed {d['name']} to {where}: {len(d['files'])} files, {d['format']} format"
            )
            if d["pr_url"]:
                console.print(f"  pull request: {d['pr_url']}")

    emit(asdict(report), as_json, render)


@app.command()
def search(
    query: Annotated[str | None, typer.Argument(help="Text the repository id must contain.")] = None,
    library: Annotated[
        str | None, typer.Option("--library", help="peft or adapters (default: both).")
    ] = None,
    base: Annotated[str | None, typer.Option("--base", help="Only adapters for this base model.")] = None,
    limit: Annotated[int, typer.Option("--limit", help="Show at most this many.", min=1)] = 20,
    endpoint: EndpointOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Search the Hub for PEFT and AdapterHub adapters."""
    from hubcli.services.searching import SearchRequest
    from hubcli.services.searching import search as search_hub

    request = SearchRequest(query, library=library, base=base, limit=limit, endpoint=endpoint)
    results = [asdict(r) for r in search_hub(request)]

    def render(rows: list[dict[str, Any]]) -> None:
        if not rows:
            console.print("No adapters found.")
            return
        table = Table(box=None, header_style="bold")
        table.add_column("id", no_wrap=True, min_width=max(len(row["id"]) for row in rows))
        for column in ("library", "base model", "downloads", "likes", "modified", "tags"):
            table.add_column(column, justify="right" if column in ("downloads", "likes") else "left")
        for row in rows:
            modified = row["last_modified"].date().isoformat() if row["last_modified"] else "-"
            tags = [t for t in row["tags"] if not t.startswith("base_model:")]
            table.add_row(
                row["id"],
                row["library"] or "-",
                row["base_model"] or "-",
                human_count(row["downloads"]),
                str(row["likes"]),
                modified,
                ", ".join(tags),
            )
        console.print(table)

    emit(results, as_json, render)
