"""Finding and loading plugins through entry points.

Listing reads entry-point metadata only (no plugin is imported). Loading happens one plugin at a
time, on demand; a plugin that fails to import or breaks the contract is marked broken, reported
once on stderr, and skipped, so an unrelated command keeps working. ``HUBCLI_STRICT_PLUGINS=1``
turns that into an error (for plugin authors and CI). ``HUBCLI_LOAD_PLUGINS=a,b`` loads only the
named third-party plugins (an empty value loads none); hubcli's own built-ins always load.
Tests register a plugin for one test through ``PluginManager.register`` (see
``hubcli.testing``) without installing a package.
"""

from __future__ import annotations

import functools
import inspect
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

from hubcli.plugin_api import (
    PLUGIN_API_VERSION,
    ArchitecturePlugin,
    CompositionPlugin,
    HubcliError,
    ModelFamilyPlugin,
    Plugin,
    PluginError,
)

BUILTIN_DISTRIBUTION = "hubcli"


@dataclass(frozen=True)
class PluginKind:
    name: str
    group: str
    base: type | None


KINDS: dict[str, PluginKind] = {
    kind.name: kind
    for kind in (
        PluginKind("architecture", "hubcli.architectures", ArchitecturePlugin),
        PluginKind("composition", "hubcli.compositions", CompositionPlugin),
        PluginKind("model", "hubcli.models", ModelFamilyPlugin),
        PluginKind("command", "hubcli.commands", None),
    )
}


@dataclass(frozen=True)
class PluginInfo:
    """One plugin as ``hubcli plugins`` shows it."""

    kind: str
    name: str
    target: str
    distribution: str
    version: str
    status: str  # "available" (not loaded yet), "loaded", "broken", "disabled"
    error: str | None = None
    api_version: int | None = None
    """The plugin API version the plugin declares; known once it is loaded (listing imports
    nothing), and checked against ``PLUGIN_API_VERSION`` when it loads."""

    def as_dict(self) -> dict[str, Any]:
        return dict(vars(self))


def _allowed_third_party() -> set[str] | None:
    value = os.environ.get("HUBCLI_LOAD_PLUGINS")
    if value is None:
        return None
    return {name.strip() for name in value.split(",") if name.strip()}


def _strict() -> bool:
    return os.environ.get("HUBCLI_STRICT_PLUGINS", "") not in ("", "0", "false")


class PluginManager:
    """Entry-point plugins plus plugins registered in process, loaded lazily and isolated."""

    def __init__(self) -> None:
        self._registered: dict[tuple[str, str], tuple[Any, str]] = {}
        self._loaded: dict[tuple[str, str], Any] = {}
        self._broken: dict[tuple[str, str], str] = {}

    # -- registration for tests and programmatic use --------------------------------------

    def register(self, kind: str, name: str, plugin: Any, distribution: str = "<registered>") -> None:
        """Add a plugin (class or instance) without an installed package; it wins over an
        entry point of the same name."""
        self._check_kind(kind)
        self._registered[(kind, name)] = (plugin, distribution)
        self._loaded.pop((kind, name), None)
        self._broken.pop((kind, name), None)

    def unregister(self, kind: str, name: str) -> None:
        self._registered.pop((kind, name), None)
        self._loaded.pop((kind, name), None)
        self._broken.pop((kind, name), None)

    # -- listing (metadata only) -----------------------------------------------------------

    @staticmethod
    def _check_kind(kind: str) -> PluginKind:
        try:
            return KINDS[kind]
        except KeyError:
            raise PluginError(f"unknown plugin kind {kind!r}; kinds: {', '.join(KINDS)}") from None

    def _entry_points(self, kind: str) -> dict[str, Any]:
        group = self._check_kind(kind).group
        return {ep.name: ep for ep in entry_points(group=group)}

    def _status(self, kind: str, name: str, distribution: str) -> tuple[str, str | None]:
        key = (kind, name)
        if key in self._broken:
            return "broken", self._broken[key]
        allowed = _allowed_third_party()
        if (
            distribution not in (BUILTIN_DISTRIBUTION, "<registered>")
            and allowed is not None
            and (name not in allowed)
        ):
            return "disabled", "not in HUBCLI_LOAD_PLUGINS"  # even if loaded before it was set
        if key in self._loaded:
            return "loaded", None
        return "available", None

    def infos(self, kind: str | None = None) -> list[PluginInfo]:
        """Every plugin of ``kind`` (or of all kinds), from metadata, without importing any."""
        result = []
        for kind_name in [kind] if kind else list(KINDS):
            seen = set()
            for (k, name), (plugin, dist) in self._registered.items():
                if k == kind_name:
                    status, error = self._status(k, name, dist)
                    target = getattr(plugin, "__qualname__", type(plugin).__qualname__)
                    result.append(
                        PluginInfo(k, name, target, dist, "", status, error, self._api_version(k, name))
                    )
                    seen.add(name)
            for name, ep in sorted(self._entry_points(kind_name).items()):
                if name in seen:
                    continue
                dist = ep.dist.name if ep.dist else "?"
                version = ep.dist.version if ep.dist else ""
                status, error = self._status(kind_name, name, dist)
                result.append(
                    PluginInfo(
                        kind_name,
                        name,
                        ep.value,
                        dist,
                        version,
                        status,
                        error,
                        self._api_version(kind_name, name),
                    )
                )
        return sorted(result, key=lambda info: (info.kind, info.name))

    def _api_version(self, kind: str, name: str) -> int | None:
        loaded = self._loaded.get((kind, name))
        return getattr(loaded, "api_version", None) if isinstance(loaded, Plugin) else None

    def names(self, kind: str) -> list[str]:
        """Names of the plugins of ``kind`` that may load (not disabled, not yet broken)."""
        return [i.name for i in self.infos(kind) if i.status in ("available", "loaded")]

    # -- loading ---------------------------------------------------------------------------

    def load(self, kind: str, name: str) -> Any:
        """The plugin instance, importing it on first use; PluginError if missing or broken."""
        spec = self._check_kind(kind)
        key = (kind, name)
        if key in self._loaded:
            return self._loaded[key]
        if key in self._broken:
            raise PluginError(f"{kind} plugin {name!r} is broken: {self._broken[key]}")
        if key in self._registered:
            obj, distribution = self._registered[key]
        else:
            eps = self._entry_points(kind)
            if name not in eps:
                known = ", ".join(self.names(kind)) or "none"
                raise PluginError(f"no {kind} plugin named {name!r} (installed: {known})")
            distribution = eps[name].dist.name if eps[name].dist else "?"
            status, why = self._status(kind, name, distribution)
            if status == "disabled":
                raise PluginError(f"{kind} plugin {name!r} is disabled: {why}")
            try:
                obj = eps[name].load()
            except Exception as exc:  # a plugin may fail in any way; isolate it
                return self._mark_broken(key, f"import failed: {type(exc).__name__}: {exc}")
        try:
            instance = obj() if isinstance(obj, type) else obj
        except Exception as exc:
            return self._mark_broken(key, f"could not be created: {type(exc).__name__}: {exc}")
        problem = self._contract_problem(spec, instance) or (
            None if key in self._registered else _name_problem(name, instance)
        )
        if problem:
            return self._mark_broken(key, problem)
        if spec.base is not None:
            isolate(instance, PluginRef(kind, name, distribution))
        self._loaded[key] = instance
        return instance

    @staticmethod
    def _contract_problem(spec: PluginKind, instance: Any) -> str | None:
        if spec.base is None:
            return None
        if not isinstance(instance, spec.base):
            return f"does not implement {spec.base.__name__}"
        return _version_problem(instance) if isinstance(instance, Plugin) else None

    def _mark_broken(self, key: tuple[str, str], reason: str) -> Any:
        self.report_broken(key[0], key[1], reason)
        raise PluginError(f"{key[0]} plugin {key[1]!r} is broken: {reason}")

    def report_broken(self, kind: str, name: str, reason: str) -> None:
        """Mark a plugin broken (``hubcli plugins`` shows it) and warn once on stderr; in strict
        mode raise instead, so plugin authors see the failure."""
        message = f"{kind} plugin {name!r} is broken: {reason}"
        if _strict():
            raise PluginError(message)
        if (kind, name) not in self._broken:
            print(f"hubcli: warning: {message}", file=sys.stderr)
        self._broken[(kind, name)] = reason
        self._loaded.pop((kind, name), None)

    def load_all(self, kind: str) -> dict[str, Any]:
        """Every loadable plugin of ``kind``; broken ones are reported and skipped."""
        result = {}
        for name in self.names(kind):
            try:
                result[name] = self.load(kind, name)
            except PluginError:
                if _strict():
                    raise
        return result


manager = PluginManager()
"""The process-wide plugin manager."""


@dataclass(frozen=True)
class PluginRef:
    """Which plugin a fault is in: its kind, its name and the distribution that installed it."""

    kind: str
    name: str
    distribution: str

    def __str__(self) -> str:
        installed = (
            "" if self.distribution in (BUILTIN_DISTRIBUTION, "<registered>") else f" ({self.distribution})"
        )
        return f"{self.kind} plugin {self.name!r}{installed}"


class PluginFault(PluginError):
    """A plugin method that raised something other than a ``HubcliError``: the plugin's fault,
    not the input's. ``method`` is the method's name; the original exception is ``__cause__``."""

    def __init__(self, plugin: PluginRef, method: str, cause: Exception) -> None:
        super().__init__(f"{plugin} failed in {method}: {type(cause).__name__}: {cause}")
        self.plugin = plugin
        self.method = method
        self.cause = cause


def isolate(instance: Plugin, plugin: PluginRef) -> None:
    """Guard every public method of ``instance`` in place (it stays an instance of its class):
    hubcli's own errors and ``KeyboardInterrupt`` pass through (they already say what is wrong,
    or are the user's), anything else becomes a one-line ``PluginFault`` naming the plugin and
    the method. This is the one place plugin calls are isolated."""
    for attribute in dir(type(instance)):
        if attribute.startswith("_") or not inspect.isfunction(
            inspect.getattr_static(type(instance), attribute)
        ):
            continue
        method = getattr(instance, attribute)
        if not getattr(method, "__hubcli_isolated__", False):
            setattr(instance, attribute, _guarded(method, plugin, attribute))


def _guarded(method: Callable[..., Any], plugin: PluginRef, name: str) -> Callable[..., Any]:
    @functools.wraps(method)
    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except HubcliError:
            raise
        except Exception as exc:  # a plugin may fail in any way; name it
            raise PluginFault(plugin, name, exc) from exc

    call.__hubcli_isolated__ = True  # type: ignore[attr-defined]
    return call


def _version_problem(plugin: Plugin) -> str | None:
    """Why ``plugin``'s declared ``api_version`` cannot load here, in one line; None if it can."""
    version = getattr(type(plugin), "api_version", None)
    if version is None:
        return f"declares no api_version: add `api_version = {PLUGIN_API_VERSION}` to its class"
    if not isinstance(version, int) or isinstance(version, bool):
        return (
            f"api_version must be a whole number, got {version!r}: write `api_version = {PLUGIN_API_VERSION}`"
        )
    if version > PLUGIN_API_VERSION:
        return f"needs plugin API {version}, this hubcli offers {PLUGIN_API_VERSION}: upgrade hubcli"
    if version < PLUGIN_API_VERSION:
        return (
            f"is written for plugin API {version}, this hubcli offers {PLUGIN_API_VERSION}: import every "
            "hubcli name from hubcli.plugin_api (torch-side classes from hubcli.plugin_api.torch_modules), "
            "declare `runtime` instead of forwarding model-side methods, and set "
            f'`api_version = {PLUGIN_API_VERSION}` (docs/plugins.md, "From API 1 to 2")'
        )
    return None


def _name_problem(entry_point: str, plugin: Any) -> str | None:
    """An entry point must be named like the plugin it loads (users type that name)."""
    declared = plugin.name if isinstance(plugin, Plugin) else entry_point
    if declared == entry_point:
        return None
    return (
        f"entry point {entry_point!r} loads a plugin named {declared!r}: "
        "the entry point's name must equal the plugin's `name`"
    )


def architectures() -> dict[str, ArchitecturePlugin]:
    return manager.load_all("architecture")


def architecture(name: str) -> ArchitecturePlugin:
    plugin = manager.load("architecture", name)
    assert isinstance(plugin, ArchitecturePlugin)  # `load` refuses an instance of another class
    return plugin


def composition(name: str) -> CompositionPlugin:
    plugin = manager.load("composition", name)
    assert isinstance(plugin, CompositionPlugin)  # `load` refuses an instance of another class
    return plugin
