"""The stitch composer: build a composition tree from registry adapters and blocks, see its
one-line spec and hubcli's verdict on it as you go, and save it as a recipe.

Adapters come from an ``AdapterPicker``, blocks from the installed composition plugins. A new
pick goes into the block highlighted in the tree (or the block holding the highlighted
adapter). The dialog only returns a ``RecipeRequest``; the app saves it in a job, through the
same function as ``hubcli stitch --save``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Input, Label, OptionList, Static, Tree
from textual.widgets.tree import TreeNode

from hubcli import discovery
from hubcli.compose.spec import Node
from hubcli.compose.text import caret, format_spec
from hubcli.plugin_api import SpecError
from hubcli.tui.adapter_picker import AdapterPicker, Choice
from hubcli.tui.composition_draft import (
    CompositionDraft,
    DraftAdapter,
    DraftBlock,
    DraftError,
    DraftNode,
    parse_args,
    to_node,
)
from hubcli.tui.dialogs import Dialog
from registry import Registry

COMPOSER_BINDING_IDS = ("remove_node",)


@dataclass(frozen=True)
class RecipeRequest:
    name: str
    base: str
    tree: Node


def block_arguments(block: DraftBlock) -> str:
    """The block's arguments as typed in the text form: ``sizes=[2, 2]``."""
    return format_spec(to_node(DraftBlock(block.kind, [], block.args)))[len(block.kind) + 1 : -1]


def node_label(node: DraftNode) -> Text:
    if isinstance(node, DraftAdapter):
        return Text(node.name)
    return Text(f"{node.kind}({block_arguments(node)})", style="bold")


class ComposerDialog(Dialog[RecipeRequest | None]):
    DEFAULT_CSS = """
    ComposerDialog > Vertical { width: 120; height: 95%; }
    ComposerDialog #pickers { height: 1fr; }
    ComposerDialog #pickers > Vertical { width: 1fr; margin-right: 1; }
    ComposerDialog #blocks { height: 1fr; }
    ComposerDialog #tree { height: 1fr; border: round $secondary; }
    ComposerDialog #spec { background: $boost; padding: 0 1; }
    ComposerDialog #verdict { height: auto; min-height: 2; margin-bottom: 1; }
    ComposerDialog #save-row { height: auto; }
    ComposerDialog #save-row Input { width: 1fr; }
    """
    BINDINGS: ClassVar[list[Binding]] = [
        Binding("escape", "cancel", "Cancel"),
        Binding("delete", "remove_node", "Remove from tree", id="remove_node"),
    ]

    def __init__(self, registry: Registry) -> None:
        super().__init__()
        self.registry = registry
        self.draft = CompositionDraft()
        self.architectures: dict[str, str] = {}
        self.base_models: dict[str, str | None] = {}

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Stitch composer", classes="title")
            with Horizontal(id="pickers"):
                with Vertical():
                    yield Label("Adapters (Enter adds)")
                    yield AdapterPicker(self.registry, multiple=False, id="adapters")
                with Vertical():
                    yield Label("Blocks (Enter adds)")
                    yield OptionList(*discovery.manager.names("composition"), id="blocks")
                with Vertical():
                    yield Label("Composition (Delete removes)")
                    yield Tree("composition", id="tree")
                    yield Input(
                        placeholder="arguments of the highlighted block, e.g. sizes=[2, 2]", id="args"
                    )
            yield Static("", id="spec", markup=False)
            yield Static("", id="verdict", markup=False)
            with Horizontal(id="save-row"):
                yield Input(placeholder="recipe name", id="name")
                yield Input(placeholder="base model (default: the adapters')", id="base")
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Save recipe", variant="primary", id="save")

    def on_mount(self) -> None:
        tree = self.query_one("#tree", Tree)
        tree.show_root = False
        self._redraw(None)
        self.query_one("#picker-filter", Input).focus()

    # -- building --------------------------------------------------------------------------

    @property
    def highlighted(self) -> DraftNode | None:
        node = self.query_one("#tree", Tree).cursor_node
        return node.data if node is not None else None

    @on(AdapterPicker.Picked)
    def _adapter_picked(self, event: AdapterPicker.Picked) -> None:
        choice: Choice = event.choice
        self.architectures[choice.name] = choice.architecture
        self.base_models[choice.name] = choice.base_model
        self._add(DraftAdapter(choice.name))

    @on(OptionList.OptionSelected, "#blocks")
    def _block_picked(self, event: OptionList.OptionSelected) -> None:
        self._add(DraftBlock(str(event.option.prompt)))

    def _add(self, item: DraftNode) -> None:
        try:
            self.draft.add(item, self.highlighted)
        except DraftError as exc:
            self.notify(str(exc), severity="warning")
            return
        self._redraw(item if isinstance(item, DraftBlock) else self.highlighted)

    def action_remove_node(self) -> None:
        node = self.highlighted
        if node is not None:
            parent = self.draft.parent_of(node)
            self.draft.remove(node)
            self._redraw(parent)

    @on(Input.Submitted, "#args")
    def _args_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        block = self.highlighted
        if not isinstance(block, DraftBlock):
            self.notify("Highlight a block in the tree first.", severity="warning")
            return
        try:
            block.args = parse_args(block.kind, event.value)
        except SpecError as exc:
            self.notify(exc.message.split("\n")[0], title="Arguments", severity="warning", markup=False)
            return
        self._redraw(block)

    @on(Tree.NodeHighlighted, "#tree")
    def _node_highlighted(self, event: Tree.NodeHighlighted) -> None:
        data = event.node.data
        args = self.query_one("#args", Input)
        if isinstance(data, DraftBlock):
            args.value = block_arguments(data)
        else:
            args.value = ""

    def _redraw(self, keep: DraftNode | None) -> None:
        """Rebuild the tree widget from the draft, highlight ``keep``, and re-check the spec."""
        tree = self.query_one("#tree", Tree)
        tree.clear()
        order: list[DraftNode] = []  # pre-order, which is the line order: every block is expanded

        def add(parent: TreeNode[DraftNode], node: DraftNode) -> None:
            order.append(node)
            if isinstance(node, DraftBlock):
                branch = parent.add(node_label(node), data=node, expand=True)
                for child in node.children:
                    add(branch, child)
            else:
                parent.add_leaf(node_label(node), data=node)

        if self.draft.root is not None:
            add(tree.root, self.draft.root)
        if keep is not None and any(node is keep for node in order):
            tree.cursor_line = next(line for line, node in enumerate(order) if node is keep)
        self._show_check()

    def _show_check(self) -> None:
        checked = self.draft.check(self.architectures)
        self.query_one("#spec", Static).update(checked.text or "(pick a block or an adapter)")
        verdict = self.query_one("#verdict", Static)
        if not checked.text:
            verdict.update("")
        elif checked.problem is None:
            verdict.update(Text("✓ valid composition", style="green"))
        else:
            where = (
                caret(checked.text, checked.column).split("\n")[1][1:] if checked.column is not None else ""
            )
            verdict.update(
                Text(f"{where}\n" if where else "", style="red bold") + Text(checked.problem, style="red")
            )

    # -- saving ----------------------------------------------------------------------------

    def default_base(self) -> str | None:
        if self.draft.root is None:
            return None
        names = to_node(self.draft.root).adapters()
        return next((base for name in names if (base := self.base_models.get(name))), None)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "save":
            self._save()
        else:
            self.dismiss(None)

    @on(Input.Submitted, "#name, #base")
    def _save_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._save()

    def _save(self) -> None:
        checked = self.draft.check(self.architectures)
        name = self.query_one("#name", Input).value.strip()
        base = self.query_one("#base", Input).value.strip() or self.default_base()
        if not checked.ok or self.draft.root is None:
            self.notify("Build a valid composition first.", severity="warning")
        elif not name:
            self.notify("Name the recipe first.", severity="warning")
        elif not base:
            self.notify("Type the base model: the adapters do not name one.", severity="warning")
        else:
            self.dismiss(RecipeRequest(name, base, to_node(self.draft.root)))

    def action_cancel(self) -> None:
        self.dismiss(None)
