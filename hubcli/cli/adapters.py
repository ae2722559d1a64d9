"""Commands on the adapters of the registry: add, list, show, rm, tag, verify."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from hubcli.cli.context import state
from hubcli.cli.output import JsonFlag, console, emit, err_console
from hubcli.formatting import architecture_label, human_count, human_size

if TYPE_CHECKING:
    from registry import Adapter

app = typer.Typer()

NameArg = Annotated[str, typer.Argument(help="Adapter name, as `hubcli list` shows it.")]


def adapter_dict(adapter: Adapter, tags: list[str]) -> dict[str, Any]:
    data = adapter.model_dump()
    data["tags"] = tags
    return data


@app.command()
def add(
    path: Annotated[Path, typer.Argument(help="Folder or archive holding a PEFT or AdapterHub adapter.")],
    name: Annotated[str | None, typer.Option("--name", "-n", help="Register under this name.")] = None,
    base: Annotated[str | None, typer.Option("--base", help="Base model id (overrides the files).")] = None,
    subfolder: Annotated[
        str | None, typer.Option("--subfolder", help="Import only this sub-folder's adapter.")
    ] = None,
    all_: Annotated[bool, typer.Option("--all", help="Import every adapter found in sub-folders.")] = False,
    tag: Annotated[list[str] | None, typer.Option("--tag", "-t", help="Tag to attach (repeatable).")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Import an adapter from disk: a folder or an archive (.zip, .tar[.gz|.bz2|.xz]) in PEFT or
    AdapterHub layout, safetensors or .bin."""
    from hubcli.services.adding import AddRequest
    from hubcli.services.adding import add as add_adapters

    registry = state.registry()
    request = AddRequest(
        path, name=name, base_model=base, subfolder=subfolder, every=all_, tags=tuple(tag or ())
    )
    outcomes = add_adapters(registry, request).outcomes
    for outcome in outcomes:
        for warning in outcome.warnings:
            err_console.print(f"[yellow]warning:[/] {escape(warning)}", soft_wrap=True)

    def render(_: Any) -> None:
        for outcome in outcomes:
            a = outcome.adapter
            mark = "[green]✓[/]" if outcome.created else "[yellow]=[/]"
            console.print(
                f"{mark} {outcome.message}: {architecture_label(a.architecture, a.variant)}, {a.format}, "
                f"{human_count(a.num_parameters)} parameters, {human_size(a.size_bytes)}"
            )

    emit(
        [
            {
                "created": o.created,
                "message": o.message,
                "warnings": list(o.warnings),
                "adapter": adapter_dict(o.adapter, registry.tags(o.adapter)),
            }
            for o in outcomes
        ],
        as_json,
        render,
    )


def _list(
    arch: Annotated[str | None, typer.Option("--arch", help="Only this architecture.")] = None,
    base: Annotated[str | None, typer.Option("--base", help="Only adapters for this base model.")] = None,
    tag: Annotated[str | None, typer.Option("--tag", help="Only adapters with this tag.")] = None,
    search: Annotated[
        str | None, typer.Option("--search", "-s", help="Substring of name, base, task, tag.")
    ] = None,
    sort: Annotated[
        str,
        typer.Option(
            "--sort", help="name, architecture, base_model, num_parameters, size_bytes or created_at."
        ),
    ] = "name",
    desc: Annotated[bool, typer.Option("--desc", help="Sort descending.")] = False,
    limit: Annotated[int | None, typer.Option("--limit", help="Show at most this many.")] = None,
    compositions: Annotated[
        bool, typer.Option("--compositions", help="List the saved stitch recipes instead.")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """List registered adapters (or, with --compositions, saved stitch recipes)."""
    if compositions:
        from hubcli.cli.stitch import list_recipes

        return list_recipes(as_json)
    registry = state.registry()
    adapters = registry.list_adapters(
        architecture=arch, base_model=base, tag=tag, search=search, sort=sort, descending=desc, limit=limit
    )
    tags = registry.tags_by_adapter([a.id for a in adapters])
    rows = [adapter_dict(a, tags[a.id]) for a in adapters]

    def render(rows: list[dict[str, Any]]) -> None:
        if not rows:
            console.print(
                f"No adapters in {registry.display_location} yet. Import one with "
                "`hubcli add PATH` or `hubcli pull REPO`."
            )
            return
        table = Table(box=None, header_style="bold")
        for column in ("name", "architecture", "base model", "params", "size", "format", "tags"):
            table.add_column(column, justify="right" if column in ("params", "size") else "left")
        for row in rows:
            table.add_row(
                row["name"],
                architecture_label(row["architecture"], row["variant"]),
                row["base_model"] or "-",
                human_count(row["num_parameters"]),
                human_size(row["size_bytes"]),
                row["format"],
                ", ".join(row["tags"]),
            )
        console.print(table)

    emit(rows, as_json, render)


app.command("list")(_list)
app.command("ls", hidden=True)(_list)


@app.command()
def show(name: NameArg, as_json: JsonFlag = False) -> None:
    """Show one adapter: metadata, method config, files, tags, evaluations, remotes."""
    registry = state.registry()
    adapter = registry.get_adapter(name)
    data = adapter_dict(adapter, registry.tags(adapter))
    data["files"] = [f.model_dump(exclude={"id", "adapter_id"}) for f in registry.files(adapter)]
    data["evaluations"] = [
        e.model_dump(exclude={"adapter_id"}) for e in registry.evaluations(adapter=adapter)
    ]
    data["remotes"] = [r.model_dump(exclude={"adapter_id"}) for r in registry.remotes(adapter)]

    def render(d: dict[str, Any]) -> None:
        console.print(f"[bold]{d['name']}[/]  {architecture_label(d['architecture'], d['variant'])}")
        facts = Table.grid(padding=(0, 2))
        facts.add_column(style="dim")
        facts.add_column()
        for label, value in (
            ("base model", d["base_model"]),
            ("model type", d["model_type"]),
            ("hidden size", d["hidden_size"]),
            ("task", d["task"]),
            ("labels", ", ".join(d["labels"] or []) or None),
            ("parameters", f"{d['num_parameters']:,}"),
            ("size", human_size(d["size_bytes"])),
            ("format", d["format"]),
            ("source", d["source"]),
            ("revision", d["source_revision"]),
            ("commit", d["source_commit"]),
            ("license", d["license"]),
            ("tags", ", ".join(d["tags"]) or None),
            ("description", d["description"]),
            ("created", d["created_at"]),
        ):
            if value not in (None, ""):
                facts.add_row(label, str(value))
        console.print(facts)
        console.print("\n[bold]config[/]")
        for key, value in sorted(d["method_config"].items()):
            console.print(f"  {key} = {value!r}")
        console.print("\n[bold]files[/]")
        for f in d["files"]:
            console.print(f"  {f['path']}  [dim]{f['role']}, {human_size(f['size'])}, {f['sha256'][:12]}[/]")
        if d["evaluations"]:
            console.print("\n[bold]evaluations[/]")
            for e in d["evaluations"]:
                console.print(
                    f"  {e['dataset']} {e['split'] or ''} {e['metric']} = {e['value']:.4f} (n={e['n']})"
                )
        if d["remotes"]:
            console.print("\n[bold]remotes[/]")
            for r in d["remotes"]:
                console.print(f"  {r['repo_id']}@{r['revision']} {r['commit_sha'][:12]} ({r['format']})")

    emit(data, as_json, render)


@app.command()
def rm(
    names: Annotated[list[str], typer.Argument(help="Adapters to remove.")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Remove adapters; files no other adapter uses are deleted from the store."""
    from hubcli.services.removing import RemoveRequest
    from hubcli.services.removing import remove as remove_adapters

    registry = state.registry()
    for name in names:
        registry.get_adapter(name)  # fail before asking
    if not yes and not as_json and not typer.confirm(f"Remove {', '.join(names)}?", default=False):
        raise typer.Exit(1)
    freed = remove_adapters(registry, RemoveRequest(tuple(names))).freed
    emit(
        [{"name": n, "blobs_freed": c} for n, c in freed.items()],
        as_json,
        lambda rows: [console.print(f"removed {r['name']} ({r['blobs_freed']} files freed)") for r in rows],
    )


@app.command()
def tag(
    name: NameArg,
    tags: Annotated[list[str] | None, typer.Argument(help="Tags to add.")] = None,
    remove: Annotated[
        list[str] | None, typer.Option("--remove", "-r", help="Tag to remove (repeatable).")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Add (or with --remove, take away) tags of an adapter."""
    from hubcli.services.tagging import TagRequest
    from hubcli.services.tagging import tag as set_tags

    result = set_tags(state.registry(), TagRequest(name, add=tuple(tags or ()), remove=tuple(remove or ())))
    emit(
        {"name": result.name, "tags": result.tags},
        as_json,
        lambda d: console.print(f"{d['name']}: {', '.join(d['tags']) or '(no tags)'}"),
    )


@app.command()
def verify(as_json: JsonFlag = False) -> None:
    """Re-hash every stored file; report missing or corrupt ones (after cleaning up leftovers)."""
    from hubcli.services.verifying import verify as verify_store

    report = verify_store(state.registry())
    data = {
        "ok": report.ok,
        "checked": report.checked,
        "missing": report.missing,
        "corrupt": report.corrupt,
        "cleaned": vars(report.cleanup),
    }

    def render(d: dict[str, Any]) -> None:
        cleaned = d["cleaned"]
        if any(cleaned.values()):
            console.print(
                f"cleaned up {cleaned['temporary_files']} temporary files, {cleaned['staging_folders']} "
                f"staging folders, {cleaned['orphan_blobs']} unreferenced blobs"
            )
        for sha in d["missing"]:
            console.print(f"[red]missing[/] {sha}")
        for sha in d["corrupt"]:
            console.print(f"[red]corrupt[/] {sha}")
        status = "[green]ok[/]" if d["ok"] else "[red]problems found[/]"
        console.print(f"{d['checked']} files checked: {status}")

    emit(data, as_json, render)
    if not report.ok:
        raise typer.Exit(1)
