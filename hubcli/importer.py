"""Bringing adapters in: detect the format, validate, normalise weights, register.

Used by ``hubcli add`` (disk) and ``hubcli pull`` (Hub, after download). Nothing here touches
the registry before validation has passed, and the registry writes in one transaction, so a
failure at any step leaves it as it was.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath

from hubcli import discovery
from hubcli.plugin_api import (
    FILE_ROLES,
    AdapterFolder,
    AdapterFormatError,
    AdapterValidationError,
    DetectedAdapter,
    HubcliError,
    PluginError,
    TensorInfo,
    read_safetensors_header,
)
from hubcli.tensor_files import convert_pickle_to_safetensors, count_non_finite
from registry import Adapter, NewAdapter, NewFile, Registry, content_digest
from registry.errors import AdapterExists, AdapterNotFound, RegistryError, name_taken
from registry.faults import checkpoint
from registry.store import sha256_file

CONFIG_FILE = "adapter_config.json"
CONFIG_FILES = (CONFIG_FILE, "adapter_fusion_config.json", "fusion.json")
"""A folder holding one of these is an import candidate: adapters, and trained fusions
(AdapterHub's ``save_adapter_fusion`` and hubcli's own), which plugins then recognise."""
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
SAFETENSORS_NAME_OF_PICKLE = {
    "adapter_model.bin": "adapter_model.safetensors",
    "pytorch_adapter.bin": "adapter.safetensors",
    "pytorch_model_head.bin": "model_head.safetensors",
    "pytorch_model_adapter_fusion.bin": "model_adapter_fusion.safetensors",
}
WEIGHT_ROLES = ("weights", "head_weights", "fusion_weights")


@dataclass(frozen=True)
class ImportOutcome:
    adapter: Adapter
    created: bool
    message: str
    warnings: tuple[str, ...] = ()


def has_config(folder: AdapterFolder) -> bool:
    """Whether ``folder`` holds one of ``CONFIG_FILES`` (the one rule of ``add`` and ``pull``)."""
    return any(folder.exists(name) for name in CONFIG_FILES)


def adapter_subfolders(folder: AdapterFolder) -> list[str]:
    """Where the adapters of ``folder`` are: ``[""]`` for the folder itself, else the
    sub-folders that hold an adapter config (PEFT saves non-default names that way)."""
    if has_config(folder):
        return [""]
    return [name for name in folder.subfolders() if has_config(folder.sub(name))]


def choose_adapter_folders(
    label: str, found: list[str], subfolder: str | None, all_: bool, name: str | None = None
) -> list[str]:
    """The adapter folders to import, as ``hubcli add`` and ``hubcli pull`` choose them: the
    folder itself, ``--subfolder``, or ``--all`` of the sub-folders that hold an adapter."""
    if subfolder is not None:
        wanted = subfolder.strip("/")
        if wanted not in found:
            raise AdapterFormatError(
                f"{label}: no adapter in sub-folder {wanted!r} (adapters: {', '.join(found) or 'none'})"
            )
        return [wanted]
    if not found:
        raise AdapterFormatError(f"{label}: no {CONFIG_FILE} at the top or in a sub-folder")
    if len(found) > 1 and not all_:
        raise AdapterFormatError(
            f"{label} holds {len(found)} adapters ({', '.join(found)}): "
            "pick one with --subfolder or take them all with --all"
        )
    if len(found) > 1 and name is not None:
        raise AdapterFormatError("--name applies to one adapter; with --all names come from the sub-folders")
    return found


def detect(folder: AdapterFolder) -> DetectedAdapter:
    """Ask every architecture plugin; exactly one must recognise the folder."""
    plugins = discovery.architectures()
    if not has_config(folder):
        raise AdapterFormatError(f"{folder.label}: no {CONFIG_FILE} (not an adapter folder)")
    matches = []
    for name, plugin in plugins.items():
        try:
            found = plugin.detect(folder)
        except discovery.PluginFault as fault:  # a faulty plugin must not stop the others
            discovery.manager.report_broken(
                "architecture", name, f"detect raised {type(fault.cause).__name__}: {fault.cause}"
            )
            continue
        if found:
            matches.append(found)
    if not matches:
        raise AdapterFormatError(
            f"{folder.where(CONFIG_FILE)}: no installed architecture recognises this adapter "
            f"(tried {', '.join(sorted(plugins)) or 'none'})"
        )
    if len(matches) > 1:
        names = ", ".join(m.architecture for m in matches)
        raise PluginError(f"{folder.label}: several architectures claim this adapter ({names})")
    found = matches[0]
    for rel, role in found.files.items():
        if role not in FILE_ROLES:
            raise PluginError(f"{found.architecture}: unknown file role {role!r} for {rel}")
        folder.path(rel)  # refuses paths that escape
        if not folder.exists(rel):
            raise AdapterFormatError(f"{folder.where(rel)}: missing")
    return found


def validated_role(found: DetectedAdapter) -> str:
    """The file role whose tensors the plugin's ``validate`` checks: ``weights``, or for a
    fusion, which has no adapter weights, ``fusion_weights`` (import and export agree on it)."""
    return "weights" if found.files_with_role("weights") else "fusion_weights"


def _stored_name(rel: str) -> str:
    path = PurePosixPath(rel)
    if path.suffix != ".bin":
        return rel
    renamed = SAFETENSORS_NAME_OF_PICKLE.get(path.name, path.with_suffix(".safetensors").name)
    return str(path.with_name(renamed))


def _normalise(folder: AdapterFolder, found: DetectedAdapter, staging: Path) -> list[NewFile]:
    """Files to store: weights as safetensors (pickles converted safely), the rest verbatim."""
    files = []
    for rel, role in sorted(found.files.items()):
        source = folder.path(rel)
        stored = _stored_name(rel) if role in WEIGHT_ROLES else rel
        if stored != rel:
            target = staging / stored.replace("/", "__")
            convert_pickle_to_safetensors(source, target, label=folder.where(rel))
            source = target
        files.append(NewFile(path=stored, role=role, source=source))
    return files


def _tensors(files: Iterable[NewFile], folder: AdapterFolder, role: str) -> dict[str, TensorInfo]:
    tensors: dict[str, TensorInfo] = {}
    for item in files:
        if item.role == role:
            tensors.update(read_safetensors_header(item.source, label=folder.where(item.path)))
    return tensors


def non_finite_warnings(files: Iterable[NewFile], folder: AdapterFolder) -> tuple[str, ...]:
    """NaN/Inf weights do not stop an import (a user may want to inspect them) but are said."""
    warnings = []
    for item in files:
        if item.role in WEIGHT_ROLES:
            for tensor, count in count_non_finite(item.source).items():
                warnings.append(f"{folder.where(item.path)}: tensor {tensor!r} has {count} NaN/Inf values")
    return tuple(warnings)


def check_name(name: str) -> str:
    if not NAME_PATTERN.match(name):
        raise AdapterValidationError(
            f"invalid adapter name {name!r}: use letters, digits, '.', '_' or '-' "
            "(starting with a letter or digit, at most 128 characters)"
        )
    return name


def check_new_name(
    registry: Registry, name: str, refusal: type[HubcliError | RegistryError] = AdapterExists
) -> str:
    """``name`` for an adapter that a long run will create (train, merge): well-formed and not
    taken, checked before the work starts. A taken name is refused with the registry's one
    message (``registry.errors.name_taken``), as a ``refusal`` (a merge refuses as a MergeError)."""
    check_name(name)
    try:
        registry.get_adapter(name)
    except AdapterNotFound:
        return name
    raise refusal(name_taken(name).message)


def default_name(folder: AdapterFolder, found: DetectedAdapter) -> str:
    candidate = found.name if found.name and found.name != "default" else folder.root.name
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", candidate).strip("-._") or "adapter"
    return cleaned[:128]


def import_adapter(
    registry: Registry,
    folder: AdapterFolder,
    *,
    name: str | None = None,
    base_model: str | None = None,
    source_kind: str = "disk",
    source: str | None = None,
    source_revision: str | None = None,
    source_commit: str | None = None,
    tags: Iterable[str] = (),
    description: str | None = None,
    labels: list[str] | None = None,
    model_type: str | None = None,
) -> ImportOutcome:
    """Detect, validate and register the adapter in ``folder``. ``base_model``, ``labels`` and
    ``model_type`` fill in what the files may not say (PEFT files name no labels; a merge or a
    training run knows them), in the same transaction."""
    found = detect(folder)
    plugin = discovery.architecture(found.architecture)
    explicit_name = name is not None
    name = check_name(name if explicit_name else default_name(folder, found))
    with registry.store.staging() as staging:
        files = _normalise(folder, found, staging)
        tensors = _tensors(files, folder, validated_role(found))
        if not tensors:
            raise AdapterValidationError(f"{folder.label}: no weight tensors found")
        for role in ("head_weights", "fusion_weights"):
            _tensors(files, folder, role)  # header sanity of the other weight files
        plugin.validate(found, tensors)  # isolated by discovery: a fault names the plugin
        num_parameters = plugin.parameter_count(found, tensors)
        warnings = non_finite_warnings(files, folder)
        checkpoint("validated")
        files = [replace(item, sha256=sha256_file(item.source)) for item in files]  # hashed once
        digest = content_digest((item.path, item.sha256) for item in files)
        twin = registry.find_by_digest(digest)
        if twin is not None and not explicit_name:
            return ImportOutcome(
                twin, False, f"already registered as {twin.name!r} (identical content)", warnings
            )
        new = NewAdapter(
            name=name,
            architecture=found.architecture,
            variant=found.variant,
            format=found.format,
            method_config=found.config,
            base_model=base_model or found.base_model,
            model_type=model_type or found.model_type,
            hidden_size=found.hidden_size,
            task=found.task,
            labels=labels or found.labels,
            license=found.license,
            num_parameters=num_parameters,
            source_kind=source_kind,
            source=source or str(folder.root),
            source_revision=source_revision,
            source_commit=source_commit,
            files=files,
            tags=list(tags),
            description=description,
        )
        result = registry.add_adapter(new)
    if result.created:
        return ImportOutcome(result.adapter, True, f"registered {name!r}", warnings)
    return ImportOutcome(
        result.adapter, False, f"{name!r} is already registered with identical content", warnings
    )
