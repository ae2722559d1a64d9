"""Stitched bundles: a base model reference, the adapters and the composition in one folder,
reloadable without the registry that made it.

Layout::

    stitch.json                      {"format": "hubcli-stitch", "version": 1, "base_model",
                                      "spec" (text form), "composition" (JSON form), "adapters",
                                      "blocks" (blocks with saved state, by tree order)}
    adapters/<n>/adapter.json        name, architecture, format, canonical config, original
                                     config file, head config — what the engine attaches
    adapters/<n>/weights.safetensors the adapter's tensors under their original names
    adapters/<n>/head.safetensors    separate head tensors (AdapterHub heads), when present
    blocks/<i>/                      what block i (parents first) owns, e.g. fusion layers,
                                     written and read by its plugin (``save_owned``/``load_owned``)

The base model is referenced, not copied (a Hub id, or a local folder as an absolute path).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hubcli.compose.setup import CompositionSetup
from hubcli.compose.spec import Node, from_json, to_json
from hubcli.compose.text import format_spec
from hubcli.plugin_api import AdapterFormatError, LoadedAdapter

FORMAT = "hubcli-stitch"
VERSION = 1
MANIFEST = "stitch.json"


def base_reference(base: str) -> str:
    """A local folder as an absolute path (the bundle may be read from elsewhere); a Hub id as is."""
    path = Path(base)
    return str(path.resolve()) if path.is_dir() else base


def write_bundle(
    folder: Path,
    base: str,
    tree: Node,
    adapters: Sequence[LoadedAdapter],
    setup: CompositionSetup | None = None,
) -> Path:
    """Write the bundle of ``tree`` over ``adapters`` on ``base`` into ``folder``, with what
    the blocks of ``setup`` (the active composition) own, e.g. trained fusion layers."""
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    blocks = []
    if setup is not None:
        for number, block in enumerate(setup.spec.blocks()):
            owned = setup.owned.get(id(block))
            if owned is not None:
                setup.spec.plugin(block).save_owned(owned, folder / "blocks" / str(number))
                blocks.append({"index": number, "block": block.kind, "dir": f"blocks/{number}"})
    entries = []
    for number, adapter in enumerate(adapters):
        where = folder / "adapters" / str(number)
        where.mkdir(parents=True, exist_ok=True)
        description = {
            "name": adapter.name,
            "architecture": adapter.architecture,
            "format": adapter.format,
            "config": adapter.config,
            "raw_config": adapter.raw_config,
            "head_config": adapter.head_config,
        }
        (where / "adapter.json").write_text(json.dumps(description, indent=2) + "\n", encoding="utf-8")
        save_file({k: v.contiguous() for k, v in adapter.tensors.items()}, where / "weights.safetensors")
        if adapter.head_tensors:
            save_file(
                {k: v.contiguous() for k, v in adapter.head_tensors.items()}, where / "head.safetensors"
            )
        entries.append(
            {"name": adapter.name, "architecture": adapter.architecture, "dir": f"adapters/{number}"}
        )
    manifest = {
        "format": FORMAT,
        "version": VERSION,
        "base_model": base_reference(base),
        "spec": format_spec(tree),
        "composition": to_json(tree),
        "adapters": entries,
        "blocks": blocks,
    }
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return folder


def read_bundle(folder: Path) -> tuple[dict[str, Any], Node, list[LoadedAdapter]]:
    """The manifest, the composition tree and the adapters of a bundle."""
    from safetensors.torch import load_file

    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise AdapterFormatError(f"{folder}: not a stitched bundle ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise AdapterFormatError(f"{folder}: {MANIFEST} is not a {FORMAT} manifest")
    if manifest.get("version", 0) > VERSION:
        raise AdapterFormatError(
            f"{folder}: bundle version {manifest['version']} is newer than this hubcli reads"
        )
    adapters = []
    for entry in manifest["adapters"]:
        where = folder / entry["dir"]
        description = json.loads((where / "adapter.json").read_text(encoding="utf-8"))
        head = where / "head.safetensors"
        adapters.append(
            LoadedAdapter(
                name=description["name"],
                architecture=description["architecture"],
                format=description["format"],
                config=description["config"],
                raw_config=description["raw_config"],
                tensors=load_file(where / "weights.safetensors"),
                head_tensors=load_file(head) if head.is_file() else {},
                head_config=description.get("head_config"),
            )
        )
    return manifest, from_json(manifest["composition"]), adapters


def load_bundle(folder: str | Path, *, dtype: str = "float32", device: str = "cpu") -> Any:
    """A ``StitchedModel`` with the bundle's base, adapters and composition active."""
    from hubcli.compose.setup import activate
    from hubcli.engine import StitchedModel, load_base_model

    manifest, tree, adapters = read_bundle(Path(folder))
    tasks = [task for item in adapters if (task := item.raw_config.get("task_type"))]
    stitched = StitchedModel(
        load_base_model(manifest["base_model"], task=tasks[0] if tasks else None, dtype=dtype, device=device)
    )
    for adapter in adapters:
        stitched.attach(adapter)
    setup = activate(stitched, tree)
    blocks = setup.spec.blocks()
    for entry in manifest.get("blocks", []):
        block = blocks[entry["index"]]
        setup.spec.plugin(block).load_owned(setup.owned[id(block)], Path(folder) / entry["dir"])
    return stitched
