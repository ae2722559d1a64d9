"""Stitching: check a composition against the registry, stitch it into a base model, and keep
the result (a saved recipe, a reloadable bundle or plain merged weights); the recipes saved.

A spec is the one-line text form (``stack(a, parallel(b, c))``), the JSON form, the name of a
saved recipe, or a JSON file (hubcli's form, or AdapterHub's ``adapter_setup.json``).
Validation needs no torch; torch and transformers are imported only when a model is loaded.
Eval and predict stitch through the functions here, so they run exactly what ``hubcli stitch``
runs.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hubcli.progress import Progress, ProgressCallback, ignore_progress

if TYPE_CHECKING:
    from hubcli.compose.setup import CompositionSetup
    from hubcli.compose.spec import Block, Node
    from hubcli.compose.validate import Validated
    from hubcli.engine import StitchedModel
    from hubcli.plugin_api import LoadedAdapter
    from registry import Adapter, Composition, Registry


@dataclass(frozen=True)
class StitchRequest:
    """``hubcli stitch BASE SPEC``: ``save`` keeps the recipe under that name; ``out`` writes a
    bundle there (``merge``: plain merged weights; ``fusion``: trained files for the fuse block)."""

    base: str
    spec: str
    save: str | None = None
    out: Path | None = None
    merge: bool = False
    fusion: Path | None = None
    dtype: str = "float32"


@dataclass(frozen=True)
class StitchResult:
    base: str
    spec: str
    """The tree in the text form."""
    composition: Any
    """The tree in the JSON form."""
    adapters: list[tuple[str, str]]
    """(name, architecture) of every adapter, in tree order."""
    recipe_base: str | None = None
    """The base a recipe was saved for, when it differs from the one stitched onto."""
    saved: str | None = None
    out: Path | None = None
    merged: bool = False

    def as_dict(self) -> dict[str, Any]:
        """The ``--json`` form."""
        data: dict[str, Any] = {
            "base": self.base,
            "spec": self.spec,
            "composition": self.composition,
            "adapters": [{"name": name, "architecture": arch} for name, arch in self.adapters],
        }
        if self.recipe_base is not None:
            data["recipe_base"] = self.recipe_base
        if self.saved is not None:
            data["saved"] = self.saved
        if self.out is not None:
            data["out"] = str(self.out)
            data["merged"] = self.merged
        return data


def stitch(
    registry: Registry, request: StitchRequest, progress: ProgressCallback = ignore_progress
) -> StitchResult:
    """Check the request's spec, save it as a recipe and write it out as asked.

    A bad spec raises ``SpecError`` (with the column, for the text form) before anything is kept."""
    from hubcli.compose.spec import to_json
    from hubcli.compose.text import format_spec

    tree, recipe_base = resolve_spec(registry, request.spec)
    validated = checked(registry, tree)
    adapters = [(name, registry.get_adapter(name).architecture) for name in validated.adapters()]
    saved = None
    if request.save is not None:
        progress(Progress("saving recipe", detail=request.save))
        save_recipe(registry, request.save, request.base, tree)
        saved = request.save
    if request.out is not None:
        progress(Progress("writing", detail=str(request.out)))
        write_stitched(registry, request, tree)
    return StitchResult(
        base=request.base,
        spec=format_spec(tree),
        composition=to_json(tree),
        adapters=adapters,
        recipe_base=recipe_base if recipe_base not in (None, request.base) else None,
        saved=saved,
        out=request.out,
        merged=request.merge if request.out is not None else False,
    )


def write_stitched(registry: Registry, request: StitchRequest, tree: Node) -> None:
    """``--out``: the stitched bundle, or (``merge``) the plain model with the adapters folded in."""
    from hubcli.compose.bundle import write_bundle
    from hubcli.compose.merged_model import save_merged
    from hubcli.compose.setup import CompositionSetup
    from hubcli.engine.loading import quiet_transformers

    assert request.out is not None
    stitched, loaded = stitch_model(registry, request.base, tree, dtype=request.dtype)
    if request.fusion is not None:
        load_fuse_block(stitched.setup, request.fusion)
    with quiet_transformers():  # no "Writing model shards" bar from save_pretrained
        if request.merge:
            save_merged(stitched, request.out)
        else:
            setup = stitched.setup
            composed = setup if isinstance(setup, CompositionSetup) else None
            write_bundle(request.out, request.base, tree, loaded, composed)


def recipes(registry: Registry) -> list[Composition]:
    """The recipes saved with ``hubcli stitch … --save NAME``."""
    return list(registry.compositions())


def resolve_spec(registry: Registry, spec: str) -> tuple[Node, str | None]:
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
        from hubcli.plugin_api import SpecError

        try:
            return from_json(json.loads(spec)), None
        except json.JSONDecodeError as exc:
            raise SpecError(f"the spec looks like JSON but is not: {exc}") from None
    return parse(spec), None


def spec_file(path: Path) -> Node:
    """A composition from a JSON file: hubcli's JSON form, or an AdapterHub
    ``adapter_setup.json`` (converted so that it gives the ``adapters`` numbers)."""
    from hubcli.compose.adapter_setup import from_adapterhub
    from hubcli.compose.spec import from_json
    from hubcli.plugin_api import SpecError

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SpecError(f"{path}: unreadable composition file ({exc})") from None
    if isinstance(data, dict) and "adapter_setup" in data:
        return from_adapterhub(data["adapter_setup"])
    return from_json(data, str(path))


def checked(registry: Registry, tree: Node) -> Validated:
    """The validated tree; every adapter must be in the registry (architectures decide which
    blocks they may sit in), and so must every fusion a block names with ``fusion=``."""
    from hubcli.compose.validate import validate

    names = dict.fromkeys(tree.adapters())
    validated = validate(tree, {name: registry.get_adapter(name).architecture for name in names})
    for block in validated.blocks():
        registered_fusion(registry, block, validated.arguments(block))
    return validated


def registered_fusion(registry: Registry, block: Block, args: Mapping[str, Any]) -> Adapter | None:
    """The registry entry a block's ``fusion=NAME`` names (None without one): a fusion trained
    over exactly the block's children, in their order, since its layers attend over them."""
    from hubcli.compose.spec import AdapterRef
    from hubcli.plugin_api import SpecError

    name = args.get("fusion")
    if name is None:
        return None
    entry = registry.get_adapter(str(name))
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


def load_registered_fusions(registry: Registry, setup: CompositionSetup) -> None:
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


def save_recipe(registry: Registry, name: str, base: str, tree: Node) -> None:
    """Keep ``tree`` (already checked) as a recipe named ``name`` for ``base``."""
    from hubcli.compose.spec import to_json
    from hubcli.compose.text import format_spec
    from registry import Composition

    registry.save_composition(
        Composition(name=name, base_model=base, spec=format_spec(tree), spec_json=to_json(tree))
    )


def stitch_model(
    registry: Registry, base: str, tree: Node, *, dtype: str = "float32", device: str = "cpu"
) -> tuple[StitchedModel, list[LoadedAdapter]]:
    """(the stitched model, its adapters as loaded): base + the tree's adapters, attached from
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


def load_fuse_block(setup: Any, folder: Path) -> None:
    """Load trained fusion files into the one fuse block of the active composition."""
    from hubcli.plugin_api import SpecError

    fuses = [block for block in setup.spec.blocks() if block.kind == "fuse"]
    if len(fuses) != 1:
        raise SpecError(f"--fusion needs exactly one fuse block in the spec, it has {len(fuses)}")
    setup.spec.plugin(fuses[0]).load_owned(setup.owned[id(fuses[0])], folder)
