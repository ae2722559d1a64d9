"""``hubcli stitch BASE SPEC``: check a composition against the registry, stitch it into a base
model, and keep the result: a saved recipe (``--save``), a reloadable bundle (``--out``) or plain
merged weights (``--out --merge``). ``hubcli list --compositions`` lists the saved recipes.

SPEC is the one-line text form (``stack(a, parallel(b, c))``), the JSON form, the name of a
saved recipe, or a JSON file (hubcli's form, or AdapterHub's ``adapter_setup.json``). Validation needs no torch; torch and transformers are imported only when a model
is loaded.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from hubcli.cli.context import state
from hubcli.cli.output import JsonFlag, console, emit, err_console

app = typer.Typer()


def resolve_spec(registry: Any, spec: str) -> tuple[Any, str | None]:
    """(tree, recipe base or None): a saved recipe by name, an adapter by name (whatever
    characters it has), else the JSON or text form."""
    from hubcli.compose.spec import AdapterRef, from_json
    from hubcli.compose.text import parse
    from registry.errors import AdapterNotFound

    recipe = next((c for c in registry.compositions() if c.name == spec), None)
    if recipe is not None:
        return from_json(recipe.spec_json), recipe.base_model
    try:
        return AdapterRef(registry.get_adapter(spec).name), None
    except AdapterNotFound:
        pass
    if spec.endswith(".json") and Path(spec).is_file():
        return spec_file(Path(spec)), None
    if spec.lstrip().startswith("{"):
        from hubcli.compose.spec import SpecError

        try:
            return from_json(json.loads(spec)), None
        except json.JSONDecodeError as exc:
            raise SpecError(f"the spec looks like JSON but is not: {exc}") from None
    return parse(spec), None


def spec_file(path: Path) -> Any:
    """A composition from a JSON file: hubcli's JSON form, or an AdapterHub
    ``adapter_setup.json`` (converted so that it gives the ``adapters`` numbers)."""
    from hubcli.compose.adapterhub import from_adapterhub
    from hubcli.compose.spec import SpecError, from_json

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SpecError(f"{path}: unreadable composition file ({exc})") from None
    if isinstance(data, dict) and "adapter_setup" in data:
        return from_adapterhub(data["adapter_setup"])
    return from_json(data, str(path))


def checked(registry: Any, tree: Any) -> Any:
    """The validated tree; every adapter must be in the registry (architectures decide which
    blocks they may sit in), and so must every fusion a block names with ``fusion=``."""
    from hubcli.compose.validate import validate

    names = dict.fromkeys(tree.adapters())
    validated = validate(tree, {name: registry.get_adapter(name).architecture for name in names})
    for block in validated.blocks():
        registered_fusion(registry, block, validated.arguments(block))
    return validated


def registered_fusion(registry: Any, block: Any, args: dict[str, Any]) -> Any:
    """The registry entry a block's ``fusion=NAME`` names (None without one): a fusion trained
    over exactly the block's children, in their order, since its layers attend over them."""
    from hubcli.compose.spec import AdapterRef, SpecError

    name = args.get("fusion")
    if name is None:
        return None
    entry = registry.get_adapter(name)
    if entry.architecture != "fusion":
        raise SpecError(
            f"{block.kind}: fusion={name} is a {entry.architecture} adapter, not a fusion", block.column
        )
    fused = list(entry.method_config.get("adapters", []))
    children = [child.name if isinstance(child, AdapterRef) else child.kind for child in block.children]
    if fused != children:
        raise SpecError(
            f"{block.kind}: fusion {name!r} was trained over {', '.join(fused)}, not over "
            f"{', '.join(children)} (same adapters, same order)",
            block.column,
        )
    return entry


def load_registered_fusions(registry: Any, setup: Any) -> None:
    """Load every ``fusion=NAME`` of the active composition from the registry's files into the
    layers its block built (the block reads them as it reads any saved fusion folder)."""
    import tempfile

    for block in setup.spec.blocks():
        entry = registered_fusion(registry, block, setup.spec.arguments(block))
        if entry is None:
            continue
        with tempfile.TemporaryDirectory(prefix="hubcli-fusion-") as scratch:
            for file in registry.files(entry):
                (Path(scratch) / file.path).symlink_to(registry.file_path(file))
            setup.spec.plugin(block).load_owned(setup.owned[id(block)], Path(scratch))


def save_recipe(registry: Any, name: str, base: str, tree: Any) -> None:
    """``--save NAME``: keep ``tree`` (already checked) as a recipe for ``base``; the TUI's
    stitch composer saves through here too."""
    from hubcli.compose.spec import to_json
    from hubcli.compose.text import format_spec
    from registry import Composition

    registry.save_composition(
        Composition(name=name, base_model=base, spec=format_spec(tree), spec_json=to_json(tree))
    )


def stitch_model(
    registry: Any, base: str, tree: Any, *, dtype: str = "float32", device: str = "cpu"
) -> tuple[Any, list[Any]]:
    """(``StitchedModel``, the ``LoadedAdapter``s): base + the tree's adapters, attached from
    the registry, composition active."""
    from hubcli.compose.setup import activate
    from hubcli.engine import StitchedModel, load_base_model, read_adapter
    from hubcli.engine.loading import quiet_transformers

    loaded = [read_adapter(registry, name) for name in dict.fromkeys(tree.adapters())]
    tasks = [task for item in loaded if (task := item.raw_config.get("task_type"))]
    # No weight-loading bar and no load report (the head the adapter brings is "missing" from
    # the base checkpoint by design): predict and stitch print only their own lines.
    with quiet_transformers():
        base_model = load_base_model(base, task=tasks[0] if tasks else None, dtype=dtype, device=device)
    stitched = StitchedModel(base_model)
    for item in loaded:
        stitched.attach(item)
    load_registered_fusions(registry, activate(stitched, tree))
    return stitched, loaded


def stitch_for_predict(
    registry: Any, base: str, adapter: str, per_row: str | None, *, dtype: str, device: str
) -> tuple[Any, Any]:
    """What ``hubcli predict`` runs: ADAPTER as an adapter name, a spec or a recipe; with
    ``--per-row a,b,-,a`` row i goes through adapter i ("-": the base model)."""
    from hubcli.compose.setup import per_row as route_per_row
    from hubcli.compose.spec import AdapterRef, Block, SpecError

    if per_row is None:
        tree = checked(registry, resolve_spec(registry, adapter)[0]).root
        stitched, _ = stitch_model(registry, base, tree, dtype=dtype, device=device)
        return stitched, registry.get_adapter(next(tree.adapters()))
    rows = [None if name.strip() in ("-", "") else name.strip() for name in per_row.split(",")]
    names = list(dict.fromkeys(name for name in rows if name is not None))
    if not names:
        raise SpecError("--per-row: name at least one adapter ('-' rows run the base model)")
    tree = checked(registry, Block("stack", tuple(AdapterRef(n) for n in names))).root
    stitched, _ = stitch_model(registry, base, tree, dtype=dtype, device=device)
    route_per_row(stitched, rows)
    return stitched, registry.get_adapter(adapter if adapter in names else names[0])


def load_fuse_block(setup: Any, folder: Path) -> None:
    """Load trained fusion files into the one fuse block of the active composition."""
    from hubcli.compose.spec import SpecError

    fuses = [block for block in setup.spec.blocks() if block.kind == "fuse"]
    if len(fuses) != 1:
        raise SpecError(f"--fusion needs exactly one fuse block in the spec, it has {len(fuses)}")
    setup.spec.plugin(fuses[0]).load_owned(setup.owned[id(fuses[0])], folder)


@app.command()
def stitch(
    base: Annotated[str, typer.Argument(help="Base model: a Hub model id or a local model folder.")],
    spec: Annotated[
        str,
        typer.Argument(
            help="Composition, e.g. 'stack(a, parallel(b, c))', its JSON form, a recipe name, or a JSON file (also AdapterHub's adapter_setup.json)."
        ),
    ],
    save: Annotated[
        str | None, typer.Option("--save", help="Store the recipe in the registry under this name.")
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", help="Write a reloadable stitched bundle (or, with --merge, a plain model) here."
        ),
    ] = None,
    merge: Annotated[
        bool,
        typer.Option("--merge", help="With --out: fold the adapters into the weights (LoRA, IA³ stacks)."),
    ] = False,
    fusion: Annotated[
        Path | None,
        typer.Option(
            "--fusion",
            help="With --out: trained fusion (AdapterHub or hubcli files) for the spec's fuse block.",
        ),
    ] = None,
    dtype: Annotated[str, typer.Option("--dtype", help="float32, bfloat16 or float16.")] = "float32",
    as_json: JsonFlag = False,
) -> None:
    """Check SPEC against the registry and stitch it into BASE."""
    if merge and out is None:
        raise typer.BadParameter("--merge needs --out DIR", param_hint="--merge")
    if fusion is not None and (out is None or merge):
        raise typer.BadParameter(
            "--fusion goes with --out DIR (a bundle, not --merge)", param_hint="--fusion"
        )
    from hubcli.compose.spec import SpecError, to_json
    from hubcli.compose.text import SpecSyntaxError, caret, format_spec

    registry = state.registry()
    try:
        tree, recipe_base = resolve_spec(registry, spec)
        validated = checked(registry, tree)
    except SpecError as exc:
        if exc.column is None:  # not from the text form: nothing to point at
            raise
        # shown with the caret, which the one-line error of other commands would lose
        headline = (
            f"{exc.problem} at column {exc.column + 1}" if isinstance(exc, SpecSyntaxError) else exc.message
        )
        err_console.print(f"[red]Error:[/] {escape(headline)}", soft_wrap=True)
        err_console.print(caret(spec, exc.column), markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None
    text = format_spec(tree)
    data: dict[str, Any] = {
        "base": base,
        "spec": text,
        "composition": to_json(tree),
        "adapters": [
            {"name": n, "architecture": registry.get_adapter(n).architecture} for n in validated.adapters()
        ],
    }
    if recipe_base is not None and recipe_base != base:
        data["recipe_base"] = recipe_base
    if save is not None:
        save_recipe(registry, save, base, tree)
        data["saved"] = save
    if out is not None:
        from hubcli.compose.bundle import write_bundle
        from hubcli.compose.export import save_merged
        from hubcli.engine.loading import quiet_transformers

        stitched, loaded = stitch_model(registry, base, tree, dtype=dtype)
        if fusion is not None:
            load_fuse_block(stitched.setup, fusion)
        with quiet_transformers():  # no "Writing model shards" bar from save_pretrained
            if merge:
                save_merged(stitched, out)
            else:
                write_bundle(out, base, tree, loaded, stitched.setup)
        data["out"] = str(out)
        data["merged"] = merge

    def render(d: dict[str, Any]) -> None:
        console.print(f"{d['base']} + {d['spec']}")
        for adapter in d["adapters"]:
            console.print(f"  {adapter['name']} ({adapter['architecture']})")
        if "saved" in d:
            console.print(f"saved recipe {d['saved']!r}")
        if "out" in d:
            console.print(f"wrote {'merged model' if d['merged'] else 'stitched bundle'} to {d['out']}")

    emit(data, as_json, render)


def list_recipes(as_json: bool) -> None:
    """The stitch recipes saved with `hubcli stitch … --save NAME` (`hubcli list --compositions`)."""
    rows = [
        {"name": c.name, "base_model": c.base_model, "spec": c.spec, "created_at": c.created_at}
        for c in state.registry().compositions()
    ]

    def render(items: list[dict[str, Any]]) -> None:
        if not items:
            console.print("no recipes (save one with `hubcli stitch BASE SPEC --save NAME`)")
        for item in items:
            console.print(f"{item['name']}  {item['base_model']}  {item['spec']}")

    emit(rows, as_json, render)
