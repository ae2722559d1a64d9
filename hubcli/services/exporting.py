"""Exporting: a registered adapter written back to disk, in its own format or converted to the
other one.

Used by ``hubcli export`` and by ``hubcli push --format``. In the stored format nothing is
re-serialised: the stored files are copied byte for byte (the original config verbatim, weights
as the safetensors the import produced), so re-importing the folder gives the same content
digest. Another format is written by the architecture plugin's ``export`` capability; the
result is then detected and validated by the same plugins that ``hubcli add`` uses, so a
conversion that the readers would refuse never leaves this module.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hubcli import discovery
from hubcli.plugin_api import AdapterFolder, CapabilityNotSupported, HubcliError, PluginError
from registry import Adapter, Registry

FORMATS = ("peft", "adapterhub")


@dataclass(frozen=True)
class ExportResult:
    name: str
    architecture: str
    stored_format: str
    format: str
    folder: Path
    files: list[str]

    @property
    def converted(self) -> bool:
        return self.format != self.stored_format

    def as_dict(self) -> dict[str, Any]:
        """The ``--json`` form."""
        return {
            "name": self.name,
            "architecture": self.architecture,
            "stored_format": self.stored_format,
            "format": self.format,
            "converted": self.converted,
            "folder": str(self.folder),
            "files": self.files,
        }


def check_export_format(adapter: Adapter, fmt: str | None) -> str:
    """The format to write (default: the stored one), refused early when it is unknown or the
    architecture plugin cannot convert into it, so no work is done for nothing."""
    wanted = fmt or adapter.format
    if wanted not in FORMATS:
        raise CapabilityNotSupported(f"unknown format {wanted!r}: choose {' or '.join(FORMATS)}")
    if wanted != adapter.format:
        plugin = discovery.architecture(adapter.architecture)
        if wanted not in plugin.export_formats:
            why = plugin.export_refusals.get(wanted, "it offers no such conversion")
            raise CapabilityNotSupported(
                f"{adapter.name} is stored in {adapter.format} format; the {adapter.architecture} "
                f"plugin cannot convert it to {wanted}: {why} (export it with --format {adapter.format})"
            )
    return wanted


def adapterhub_name(name: str) -> str:
    """The adapter name inside AdapterHub tensor keys (``….loras.<name>.…``): no dots."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", name)


def export_adapter(
    registry: Registry, name: str, folder: Path, fmt: str | None = None, *, model_type: str | None = None
) -> ExportResult:
    """Write adapter ``name`` into ``folder`` (created; it must not hold files yet).
    ``model_type`` (default: the registry's) helps conversions whose source files lack it."""
    adapter = registry.get_adapter(name)
    fmt = check_export_format(adapter, fmt)
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise HubcliError(f"{folder}: exists and is not an empty folder (export writes a fresh one)")
    created = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    try:
        if fmt == adapter.format:
            _copy_stored(registry, adapter, folder)
        else:
            _convert(registry, adapter, fmt, folder, model_type or adapter.model_type)
        check_written(folder, adapter.architecture, fmt)
    except BaseException:
        if created:
            shutil.rmtree(folder, ignore_errors=True)
        else:
            for child in folder.iterdir():
                shutil.rmtree(child) if child.is_dir() else child.unlink()
        raise
    files = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
    return ExportResult(adapter.name, adapter.architecture, adapter.format, fmt, folder, files)


def _copy_stored(registry: Registry, adapter: Adapter, folder: Path) -> None:
    for file in registry.files(adapter):
        target = folder / file.path
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(registry.file_path(file), target)


def _convert(registry: Registry, adapter: Adapter, fmt: str, folder: Path, model_type: str | None) -> None:
    from hubcli.engine.loading import read_adapter  # torch: only for conversions

    plugin = discovery.architecture(adapter.architecture)
    plugin.export(
        read_adapter(registry, adapter.name),
        fmt,
        folder,
        name=adapterhub_name(adapter.name),
        model_type=model_type,
    )


def check_written(folder: Path, architecture: str, fmt: str) -> None:
    """Detect and validate ``folder`` as ``hubcli add`` would; it must be ``architecture`` in
    ``fmt``. A plugin whose export its own reader refuses is a plugin bug: said as such."""
    from hubcli.importer import detect, validated_role
    from hubcli.plugin_api import read_safetensors_header

    where = AdapterFolder(folder)
    try:
        found = detect(where)
        tensors = {}
        for rel in found.files_with_role(validated_role(found)):
            tensors.update(read_safetensors_header(where.path(rel), label=where.where(rel)))
        discovery.architecture(found.architecture).validate(found, tensors)
    except HubcliError as exc:
        raise PluginError(
            f"the {architecture} plugin wrote a {fmt} adapter that hubcli cannot read back: {exc.message}"
        ) from None
    if (found.architecture, found.format) != (architecture, fmt):
        raise PluginError(
            f"the {architecture} plugin was asked for {fmt} but wrote "
            f"{found.architecture} in {found.format} format"
        )
