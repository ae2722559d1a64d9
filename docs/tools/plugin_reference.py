"""The plugin contract reference, generated from the package ``hubcli.plugin_api`` into
``docs/plugin-contract.md``.

Regenerate with ``python docs/tools/plugin_reference.py --write``;
``tests/test_plugin_reference.py`` fails when the file is out of date, so what plugin authors read
is what the code declares. Every name of the package's ``__all__`` is listed under the submodule
that defines it, and so is every name of the torch-side module, which the package's ``__init__``
does not import. Signatures and docstrings come from ``inspect``; attribute docstrings (a string
literal under an annotated attribute or a module constant) are not kept at run time, so they are
read from each module's source with ``ast``. A development tool: it lives beside the docs, not
in the runtime package.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect
import sys
from pathlib import Path
from types import ModuleType

from hubcli import plugin_api

REFERENCE = Path(__file__).resolve().parents[1] / "plugin-contract.md"

SUBMODULES = ("kinds", "adapters", "updates", "model", "routing", "arguments", "errors", "folders", "tensors")
"""The package's submodules, in the order a reader needs them."""

SEPARATE_MODULES = ("torch_modules",)
"""Contract modules the package's ``__init__`` does not import (they import torch): their own
``__all__`` is listed."""


def assigned_names(source: str) -> set[str]:
    """Names a module's source assigns at top level (its constants)."""
    names = set()
    for node in ast.parse(source).body:
        targets = (
            node.targets
            if isinstance(node, ast.Assign)
            else [node.target]
            if isinstance(node, ast.AnnAssign)
            else []
        )
        names.update(target.id for target in targets if isinstance(target, ast.Name))
    return names


def defined_in(module: ModuleType, names: list[str]) -> list[str]:
    """Those of ``names`` that ``module`` defines (a class or function made there, or a constant
    it assigns), in the order given."""
    constants = assigned_names(inspect.getsource(module))
    return [
        name
        for name in names
        if getattr(getattr(plugin_api, name, None), "__module__", None) == module.__name__
        or (name in constants and not hasattr(getattr(module, name), "__module__"))
    ]


def sections() -> list[tuple[ModuleType, list[str]]]:
    """(submodule, its public names) for every contract module, package names first."""
    result = []
    for short in SUBMODULES:
        module = importlib.import_module(f"{plugin_api.__name__}.{short}")
        result.append((module, defined_in(module, plugin_api.__all__)))
    for short in SEPARATE_MODULES:
        module = importlib.import_module(f"{plugin_api.__name__}.{short}")
        result.append((module, list(module.__all__)))
    return result


PUBLIC = tuple(name for _, names in sections() for name in names)
"""Every documented name."""


def documented_assignments(body: list[ast.stmt]) -> dict[str, str]:
    """Name → the string literal right under its (annotated) assignment, in one body."""
    found = {}
    for current, following in zip(body, body[1:], strict=False):
        target = current.target if isinstance(current, ast.AnnAssign) else None
        if isinstance(current, ast.Assign) and len(current.targets) == 1:
            target = current.targets[0]
        if (
            isinstance(target, ast.Name)
            and isinstance(following, ast.Expr)
            and isinstance(following.value, ast.Constant)
            and isinstance(following.value.value, str)
        ):
            found[target.id] = inspect.cleandoc(following.value.value)
    return found


def attribute_docs(source: str) -> dict[str, dict[str, str]]:
    """Class name → attribute name → the string literal right under the attribute; the module's
    own constants under the key ``""``."""
    tree = ast.parse(source)
    docs = {"": documented_assignments(tree.body)}
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            docs[node.name] = documented_assignments(node.body)
    return docs


def class_attributes(cls: type) -> list[tuple[str, str, str | None]]:
    """(name, annotation, default shown as code or None) of the annotated attributes the class
    itself declares; a dataclass field's default factory is shown as its call."""
    fields = {field.name: field for field in dataclasses.fields(cls)} if dataclasses.is_dataclass(cls) else {}
    rows = []
    for name, annotation in cls.__dict__.get("__annotations__", {}).items():
        field = fields.get(name)
        if field is not None and field.default_factory is not dataclasses.MISSING:
            shown: str | None = f"{field.default_factory.__name__}()"
        elif field is not None:
            shown = None if field.default is dataclasses.MISSING else repr(field.default)
        else:
            shown = repr(cls.__dict__[name]) if name in cls.__dict__ else None
        rows.append((name, str(annotation), shown))
    return rows


def methods(cls: type) -> list[tuple[str, object]]:
    """The public methods and properties the class itself defines (inherited ones are listed
    under their own class), in source order."""
    return [
        (name, member)
        for name, member in cls.__dict__.items()
        if not name.startswith("_") and (inspect.isfunction(member) or isinstance(member, property))
    ]


def method_section(name: str, member: object) -> list[str]:
    if isinstance(member, property):
        heading, doc = f"`{name}` (property)", inspect.getdoc(member.fget) or ""
    else:
        abstract = (
            " — abstract: a plugin must implement it"
            if getattr(member, "__isabstractmethod__", False)
            else ""
        )
        heading, doc = f"`{name}{inspect.signature(member)}`{abstract}", inspect.getdoc(member) or ""
    return [f"- {heading}", *([""] + [f"  {line}".rstrip() for line in doc.splitlines()] if doc else []), ""]


def class_section(cls: type, attribute_doc: dict[str, str]) -> list[str]:
    bases = ", ".join(
        f"`{base.__name__}`" for base in cls.__bases__ if base.__module__.startswith(plugin_api.__name__)
    )
    parts = [f"## `{cls.__name__}`", ""]
    if bases:
        parts += [f"Extends {bases}.", ""]
    parts += [inspect.getdoc(cls) or "", ""]
    attributes = class_attributes(cls)
    if attributes:
        parts += ["| attribute | type | default | meaning |", "|---|---|---|---|"]
        for name, annotation, default in attributes:
            meaning = " ".join(attribute_doc.get(name, "").split()).replace("|", "\\|")
            shown = "—" if default is None else f"`{default}`"
            parts.append(f"| `{name}` | `{annotation}` | {shown} | {meaning} |")
        parts.append("")
    for name, member in methods(cls):
        parts += method_section(name, member)
    return parts


def function_section(name: str, function: object) -> list[str]:
    doc = inspect.getdoc(function) or ""
    return [f"## `{name}`", "", f"`{name}{inspect.signature(function)}`", "", doc, ""]  # type: ignore[arg-type]


def constant_section(name: str, value: object, doc: str) -> list[str]:
    return [f"## `{name}`", "", f"`{name} = {value!r}`", "", doc, ""]


def name_section(module: ModuleType, name: str, docs: dict[str, dict[str, str]]) -> list[str]:
    value = getattr(module, name)
    if inspect.isclass(value):
        return class_section(value, docs.get(name, {}))
    if inspect.isfunction(value):
        return function_section(name, value)
    return constant_section(name, value, docs[""].get(name, ""))


def module_summary(module: ModuleType) -> str:
    """The first paragraph of a module's docstring, on one line."""
    return " ".join((inspect.getdoc(module) or "").split("\n\n")[0].split())


def render() -> str:
    """The whole reference as Markdown."""
    parts = [
        "# Plugin contract reference",
        "",
        "Generated from the package `hubcli.plugin_api` by `python docs/tools/plugin_reference.py --write`; "
        "a test checks it is current. A plugin imports every name below from `hubcli.plugin_api`, "
        "except those of `hubcli.plugin_api.torch_modules`, which it imports from there where its "
        "model code runs. The walk-throughs are in [plugins.md](plugins.md), the test kit in "
        "[plugin-kit.md](plugin-kit.md).",
        "",
    ]
    for module, names in sections():
        parts += [f"# `{module.__name__}`", "", module_summary(module), ""]
        docs = attribute_docs(inspect.getsource(module))
        for name in names:
            parts += name_section(module, name, docs)
    return "\n".join(parts).rstrip() + "\n"


if __name__ == "__main__":
    text = render()
    if "--write" in sys.argv:
        REFERENCE.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
