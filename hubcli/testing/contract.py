"""``check_architecture_plugin``: an architecture plugin checked against the contract, with real
parts (hubcli's importer, a temporary registry, the engine, tiny ``transformers`` models).

The checker cannot invent files in a plugin's format, so the plugin author passes
``write_adapter(folder, model, family)``, which saves an adapter for ``model`` (a tiny model of
``family``) into ``folder``, with weights that change the model's output. Every check raises
``AssertionError`` with a message naming the check, so a failing pytest test says what broke.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hubcli.discovery import manager
from hubcli.plugin_api import (
    FILE_ROLES,
    PLUGIN_API_VERSION,
    AdapterFolder,
    ArchitecturePlugin,
    DetectedAdapter,
    PluginError,
)
from hubcli.testing.models import model_output, tiny_inputs, tiny_model
from hubcli.testing.tolerance import output_tolerance

WriteAdapter = Callable[[Path, Any, str], None]
"""``write_adapter(folder, model, family)``: save an adapter for ``model`` into ``folder``."""


FOREIGN_CONFIG = {"peft_type": "HUBCLI_CONTRACT_CHECK", "method": "hubcli-contract-check", "r": 4}
"""A config of a method no plugin implements, spelled the ways methods are recognised (PEFT's
``peft_type``, a ``method`` key): every plugin must leave it alone (``detect`` returns None)."""


@dataclass
class ContractReport:
    """What was checked: ``passed`` names each check with its family; ``skipped`` maps an
    optional capability the plugin does not offer to why its check did not run."""

    plugin: str
    passed: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)


def _expect(condition: bool, check: str, message: str) -> None:
    if not condition:
        raise AssertionError(f"{check}: {message}")


def _offers(plugin: ArchitecturePlugin, method: str) -> bool:
    """Whether the plugin offers the model-side ``method`` (its class or its runtime)."""
    return plugin.offers(method)


@contextmanager
def _installed(plugin: ArchitecturePlugin) -> Iterator[None]:
    """``plugin`` as hubcli's architecture of its name for the duration (the engine and the
    importer look plugins up by name); an installed plugin of the same class is used as is."""
    try:
        current = manager.load("architecture", plugin.name)
    except PluginError:
        current = None
    if type(current) is type(plugin):
        yield
        return
    manager.register("architecture", plugin.name, plugin)
    try:
        yield
    finally:
        manager.unregister("architecture", plugin.name)


def check_declaration(plugin: ArchitecturePlugin) -> None:
    check = "declaration"
    _expect(isinstance(plugin, ArchitecturePlugin), check, f"{plugin!r} is not an ArchitecturePlugin")
    _expect(isinstance(plugin.name, str) and bool(plugin.name), check, "name must be a non-empty string")
    _expect(
        isinstance(plugin.api_version, int) and 1 <= plugin.api_version <= PLUGIN_API_VERSION,
        check,
        f"api_version {plugin.api_version!r} must be an int in 1..{PLUGIN_API_VERSION} (this hubcli)",
    )
    blocks = set(manager.names("composition"))
    unknown = sorted(set(plugin.compositions) - blocks)
    _expect(not unknown, check, f"compositions {unknown} are not installed blocks ({sorted(blocks)})")


def check_detection(plugin: ArchitecturePlugin, folder: Path, scratch: Path) -> DetectedAdapter:
    """The plugin recognises its files (and only hubcli's importer's view counts: no other
    installed plugin may claim them) and leaves another method's files alone."""
    from hubcli.importer import detect

    check = "detection"
    found = plugin.detect(AdapterFolder(folder))
    _expect(found is not None, check, f"detect() returned None for the folder write_adapter wrote ({folder})")
    _expect(
        found.architecture == plugin.name, check, f"architecture {found.architecture!r} ≠ {plugin.name!r}"
    )
    _expect(
        not plugin.formats or found.format in plugin.formats,
        check,
        f"format {found.format!r} is not among the declared formats {plugin.formats}",
    )
    for rel, role in found.files.items():
        _expect(role in FILE_ROLES, check, f"file {rel!r} has role {role!r}; roles: {FILE_ROLES}")
        _expect((folder / rel).is_file(), check, f"file {rel!r} is listed but does not exist")
    _expect(bool(found.files_with_role("weights")), check, "no file has the role 'weights'")
    json.dumps(found.config)  # the canonical config is stored as JSON
    claimed = detect(AdapterFolder(folder))
    _expect(claimed.architecture == plugin.name, check, f"hubcli's importer picked {claimed.architecture!r}")
    foreign = scratch / "foreign-adapter"
    foreign.mkdir()
    (foreign / "adapter_config.json").write_text(json.dumps(FOREIGN_CONFIG))
    _expect(
        plugin.detect(AdapterFolder(foreign)) is None,
        check,
        "detect() must return None for another method's adapter_config.json",
    )
    return found


def _weight_tensors(folder: Path, found: DetectedAdapter) -> dict[str, Any]:
    from safetensors.torch import load_file

    tensors: dict[str, Any] = {}
    for rel in found.files_with_role("weights"):
        tensors.update(load_file(folder / rel))
    return tensors


def check_round_trip(plugin: ArchitecturePlugin, folder: Path, found: DetectedAdapter, scratch: Path) -> Any:
    """Import into a temporary registry, read back as the engine does: the same config and the
    same tensors; the stored files, copied out, are detected as the same adapter."""
    import torch

    from hubcli.engine import read_adapter
    from hubcli.importer import import_adapter
    from registry import Registry

    check = "save/load round-trip"
    registry = Registry(scratch / "registry")
    try:
        outcome = import_adapter(registry, AdapterFolder(folder), name="checked")
        _expect(
            outcome.adapter.architecture == plugin.name,
            check,
            f"registered as {outcome.adapter.architecture!r}",
        )
        _expect(outcome.adapter.num_parameters > 0, check, "parameter_count() is 0")
        loaded = read_adapter(registry, "checked")
        copy = scratch / "copied-out"
        for file in registry.files(outcome.adapter):
            (copy / file.path).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(registry.file_path(file), copy / file.path)
    finally:
        registry.close()
    _expect(loaded.config == found.config, check, f"stored config {loaded.config} ≠ detected {found.config}")
    written = _weight_tensors(folder, found)
    _expect(set(loaded.tensors) == set(written), check, "the stored tensors are not the written ones")
    for name, tensor in written.items():
        _expect(torch.equal(loaded.tensors[name], tensor), check, f"tensor {name!r} changed on the way")
    again = plugin.detect(AdapterFolder(copy))
    _expect(
        again is not None and again.config == found.config,
        check,
        "the files as stored in the registry are not detected as the same adapter",
    )
    return loaded


def check_model_side(
    plugin: ArchitecturePlugin, model: Any, loaded: Any, report: ContractReport, family: str
) -> None:
    """Attach to ``model``: inactive it is the base model bit for bit, active it changes the
    output; merged equals unmerged, and unmerge restores every weight bit for bit; detach puts
    the original modules back."""
    import torch

    from hubcli.engine import StitchedModel

    ids, mask = tiny_inputs()
    live = model.state_dict(keep_vars=True)
    """The base's own parameters and buffers: slots keep the original modules, so these objects
    stay in the model, and merge / unmerge write into them in place."""
    original = {key: value.detach().clone() for key, value in live.items()}
    modules = {name: type(module) for name, module in model.named_modules()}
    with torch.inference_mode():
        base = model_output(model(input_ids=ids, attention_mask=mask))
    stitched = StitchedModel(model)
    stitched.attach(loaded)
    check = f"injection ({family})"
    _expect(
        torch.equal(model_output(stitched.forward(ids, mask)), base),
        check,
        "attached but not active, the output is not the base model's",
    )
    stitched.activate(loaded.name)
    active = model_output(stitched.forward(ids, mask))
    _expect(not torch.allclose(active, base), check, "active, the adapter does not change the output")
    report.passed.append(check)

    if _offers(plugin, "merge"):
        check = f"merge ({family})"
        stitched.merge(loaded.name)
        merged = model_output(stitched.forward(ids, mask))
        gap = (merged - active).abs().max().item()
        limit = output_tolerance(model, active)  # merged and unmerged differ by the rounding of W + ΔW
        _expect(gap <= limit, check, f"merged output differs from unmerged by {gap:.3g} (> {limit:.3g})")
        stitched.unmerge(loaded.name)
        for key, value in original.items():
            _expect(
                torch.equal(live[key].detach(), value), check, f"unmerge did not restore {key!r} bit for bit"
            )
        _expect(
            torch.equal(model_output(stitched.forward(ids, mask)), active),
            check,
            "after unmerge the output is not the unmerged one",
        )
        report.passed.append(check)
    else:
        report.skipped["merge"] = "the plugin does not offer merge (CapabilityNotSupported)"

    check = f"detach ({family})"
    stitched.deactivate()
    _expect(
        torch.equal(model_output(stitched.forward(ids, mask)), base),
        check,
        "deactivated, the output is not the base model's",
    )
    stitched.detach(loaded.name)
    _expect(
        {name: type(module) for name, module in model.named_modules()} == modules,
        check,
        "after detach the module tree differs from the original",
    )
    _expect(
        all(torch.equal(v, original[k]) for k, v in model.state_dict().items()),
        check,
        "after detach a weight differs from the original",
    )
    report.passed.append(check)


def check_untrained(plugin: ArchitecturePlugin, family: str, scratch: Path) -> None:
    """A new adapter from ``untrained`` is detected as the plugin's own, passes a real import,
    attaches, runs, and each of its tensors lives in exactly one new parameter of the model
    (how a trainer finds what to optimise). Probe values that no two tensors share stand in for
    the initial ones, as a trainer does, so that each tensor can be recognised."""
    import torch

    from hubcli.engine import StitchedModel, read_adapter
    from hubcli.importer import import_adapter
    from hubcli.plugin_api import UntrainedAdapter
    from hubcli.testing.models import TINY_TASK_TYPES
    from registry import Registry

    check = f"untrained adapter ({family})"
    stitched = StitchedModel(tiny_model(family))
    fresh = plugin.untrained(stitched, {}, TINY_TASK_TYPES[family], ["negative", "positive"])
    _expect(isinstance(fresh, UntrainedAdapter) and bool(fresh.tensors), check, "untrained() gave no tensors")
    generator = torch.Generator().manual_seed(0)
    probes = {key: torch.rand(value.shape, generator=generator) for key, value in fresh.tensors.items()}
    folder = UntrainedAdapter(fresh.config, fresh.weights_file, probes).write(scratch / "untrained")
    found = plugin.detect(AdapterFolder(folder))
    _expect(
        found is not None and found.architecture == plugin.name,
        check,
        "its files are not detected as the plugin's",
    )
    registry = Registry(scratch / "untrained-registry")
    try:
        import_adapter(registry, AdapterFolder(folder), name="untrained")
        loaded = read_adapter(registry, "untrained")
    finally:
        registry.close()
    before = {id(parameter) for parameter in stitched.model.parameters()}
    stitched.attach(loaded)
    stitched.activate(loaded.name)
    stitched.forward(*tiny_inputs())
    new = [p.detach().flatten().float() for p in stitched.model.parameters() if id(p) not in before]
    for key, probe in probes.items():
        flat = probe.flatten()
        holders = sum(1 for p in new if p.numel() == flat.numel() and torch.equal(p, flat))
        _expect(
            holders == 1, check, f"tensor {key!r} is held by {holders} new parameters of the model, not one"
        )


def _close(mine: Any, theirs: Any) -> bool:
    """Equal values: tensors (and dicts of them) within float32 rounding, the rest exactly."""
    import torch

    if isinstance(mine, dict):
        return (
            isinstance(theirs, dict)
            and mine.keys() == theirs.keys()
            and all(_close(mine[k], theirs[k]) for k in mine)
        )
    if isinstance(mine, torch.Tensor):
        return (
            isinstance(theirs, torch.Tensor)
            and mine.shape == theirs.shape
            and torch.allclose(mine.float(), theirs.float(), rtol=1e-5, atol=1e-6)
        )
    return mine == theirs


def _same_update(first: Any, second: Any) -> bool:
    """The same change to the same module. A low-rank update may come back refactored (e.g. the
    scaling folded into B), so its ΔW is compared rather than its factors."""
    import dataclasses

    if type(first) is not type(second) or (first.module, first.part) != (second.module, second.part):
        return False
    if hasattr(first, "dense"):
        return _close(first.dense(), second.dense()) and _close(first.bias, second.bias)
    return all(_close(getattr(first, f.name), getattr(second, f.name)) for f in dataclasses.fields(first))


def check_updates_round_trip(plugin: ArchitecturePlugin, loaded: Any, scratch: Path, family: str) -> None:
    """``write_updates(module_updates(adapter))`` writes an adapter of the plugin's own whose
    updates are the same again (what ``hubcli merge`` relies on to write its results)."""
    from hubcli.engine import read_adapter
    from hubcli.importer import import_adapter
    from hubcli.merge.merged import saved_modules_of
    from registry import Registry

    check = f"updates round-trip ({family})"
    updates = plugin.module_updates(loaded)
    _expect(bool(updates), check, "module_updates() returned no updates")
    folder = scratch / "rewritten"
    folder.mkdir()
    plugin.write_updates(updates, folder, sources=[loaded], name="rewritten", saved=saved_modules_of(loaded))
    registry = Registry(scratch / "rewritten-registry")
    try:
        outcome = import_adapter(registry, AdapterFolder(folder), name="rewritten")
        _expect(
            outcome.adapter.architecture == plugin.name, check, f"written as {outcome.adapter.architecture!r}"
        )
        again = plugin.module_updates(read_adapter(registry, "rewritten"))
    finally:
        registry.close()
    _expect(
        len(again) == len(updates) and all(map(_same_update, updates, again)),
        check,
        "the written adapter's updates differ from the ones written",
    )


def check_architecture_plugin(
    plugin: ArchitecturePlugin,
    write_adapter: WriteAdapter,
    tmp_path: Path,
    families: Sequence[str] = ("bert",),
) -> ContractReport:
    """Check ``plugin`` against the contract on a tiny model of each of ``families``.

    Checks: declaration (name, ``api_version``, known composition blocks); detection round-trip
    (``detect`` claims what ``write_adapter`` wrote, hubcli's importer agrees, another method's
    config is left alone); ``validate`` through a real import into a temporary registry and the
    save/load round-trip back out of it; injection (inactive = base model bit for bit, active
    changes the output); merge equals unmerged and unmerge is bit-exact (when the plugin offers
    merge); detach restores the model; ``write_updates(module_updates(a))`` gives the same
    updates back (when both are offered); a new adapter from ``untrained`` (when offered)
    imports, attaches and keeps each tensor in one parameter. Returns what passed and what was
    skipped.
    """
    report = ContractReport(plugin.name)
    check_declaration(plugin)
    report.passed.append("declaration")
    with _installed(plugin):
        for family in families:
            scratch = tmp_path / f"contract-{plugin.name}-{family}"
            folder = scratch / "adapter"
            folder.mkdir(parents=True)
            model = tiny_model(family)
            write_adapter(folder, model, family)
            found = check_detection(plugin, folder, scratch)
            report.passed.append(f"detection ({family})")
            loaded = check_round_trip(plugin, folder, found, scratch)
            report.passed.append(f"save/load round-trip ({family})")
            if _offers(plugin, "attach"):
                check_model_side(plugin, model, loaded, report, family)
            else:
                report.skipped["model side"] = "the plugin does not offer attach (CapabilityNotSupported)"
            if _offers(plugin, "module_updates") and _offers(plugin, "write_updates"):
                check_updates_round_trip(plugin, loaded, scratch, family)
                report.passed.append(f"updates round-trip ({family})")
            else:
                report.skipped["updates"] = "the plugin does not offer module_updates and write_updates"
            if _offers(plugin, "untrained"):
                check_untrained(plugin, family, scratch)
                report.passed.append(f"untrained adapter ({family})")
            else:
                report.skipped["untrained"] = "the plugin does not offer untrained (CapabilityNotSupported)"
    return report
