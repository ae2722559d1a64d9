"""The plugin contract reference, generated from ``hubcli.plugin_api`` into
``docs/plugin-contract.md``.

Regenerate with ``python -m hubcli.plugin_reference --write``; ``tests/test_plugin_reference.py``
fails when the file is out of date, so what plugin authors read is what the code declares
(the same scheme as ``hubcli.cli.reference``). Signatures and docstrings come from ``inspect``;
attribute docstrings (a string literal under an annotated attribute) are not kept at run time,
so they are read from the module's source with ``ast``.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import sys
from pathlib import Path

from hubcli import plugin_api

REFERENCE = Path(__file__).resolve().parents[1] / "docs" / "plugin-contract.md"

PUBLIC = (
    "Plugin",
    "ArchitecturePlugin",
    "CompositionPlugin",
    "ModelFamilyPlugin",
    "InsertionPoints",
    "ModelDims",
    "DetectedAdapter",
    "AttachTarget",
    "LoadedAdapter",
    "UntrainedAdapter",
    "ModuleUpdate",
    "LowRankUpdate",
    "ScaleUpdate",
    "ParameterUpdate",
)
"""The classes a plugin subclasses, receives or returns, in the order a reader needs them."""


def attribute_docs(source: str) -> dict[str, dict[str, str]]:
    """Class name → attribute name → the string literal right under the attribute."""
    docs: dict[str, dict[str, str]] = {}
    for node in ast.parse(source).body:
        if not isinstance(node, ast.ClassDef):
            continue
        found = docs.setdefault(node.name, {})
        for current, following in zip(node.body, node.body[1:], strict=False):
            if (
                isinstance(current, ast.AnnAssign)
                and isinstance(current.target, ast.Name)
                and isinstance(following, ast.Expr)
                and isinstance(following.value, ast.Constant)
                and isinstance(following.value.value, str)
            ):
                found[current.target.id] = inspect.cleandoc(following.value.value)
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
        f"`{base.__name__}`" for base in cls.__bases__ if base.__module__ == plugin_api.__name__
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


def render() -> str:
    """The whole reference as Markdown."""
    docs = attribute_docs(inspect.getsource(plugin_api))
    parts = [
        "# Plugin contract reference",
        "",
        "Generated from `hubcli/plugin_api.py` by `python -m hubcli.plugin_reference --write`; a test "
        "checks it is current. The walk-throughs are in [plugins.md](plugins.md), the test kit in "
        "[plugin-kit.md](plugin-kit.md).",
        "",
        f"`PLUGIN_API_VERSION = {plugin_api.PLUGIN_API_VERSION}`: the contract version this hubcli offers; "
        "a plugin declares the version it was written for in `api_version`, and one with a larger "
        "version is refused.",
        "",
        f"`FILE_ROLES = {plugin_api.FILE_ROLES!r}`: the roles a `DetectedAdapter` may give its files.",
        "",
    ]
    for name in PUBLIC:
        parts += class_section(getattr(plugin_api, name), docs.get(name, {}))
    return "\n".join(parts).rstrip() + "\n"


if __name__ == "__main__":
    text = render()
    if "--write" in sys.argv:
        REFERENCE.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
