"""The side panel: adapters grouped by base model, architecture and tag.

Choosing a group narrows the table to it; choosing the root shows everything again. Counts
come from one aggregate query (``queries.group_counts``) run in a worker.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual.message import Message
from textual.widgets import Tree

from hubcli.tui.queries import MAX_GROUPS, GroupCounts

GROUPINGS = (("base_model", "Base model"), ("architecture", "Architecture"), ("tag", "Tag"))


@dataclass(frozen=True)
class Group:
    """A filter on one field of the adapter query; ``kind`` None means "all adapters"."""

    kind: str | None = None
    value: str | None = None


class GroupTree(Tree[Group]):
    HELP: ClassVar[str] = """\
## Groups

Adapters grouped by base model, architecture and tag, with counts.
Press **Enter** or click on a group to show only its adapters; choose **All adapters** to see
everything again. The filter box still applies inside a group.
"""

    class GroupChosen(Message):
        def __init__(self, group: Group) -> None:
            super().__init__()
            self.group = group

    def __init__(self, **kwargs: object) -> None:
        super().__init__("All adapters", data=Group(), **kwargs)  # type: ignore[arg-type]
        self.show_root = True
        self.guide_depth = 2

    def on_mount(self) -> None:
        self.border_title = "Groups"
        self.root.expand()

    def show_counts(self, counts: GroupCounts) -> None:
        """Rebuild the branches, keeping which ones were open."""
        expanded = {node.label.plain.rsplit(" (", 1)[0]: node.is_expanded for node in self.root.children}
        self.root.remove_children()
        for kind, title in GROUPINGS:
            values: list[tuple[str, int]] = getattr(counts, kind)
            more = "+" if len(values) == MAX_GROUPS else ""
            branch = self.root.add(f"{title} ({len(values)}{more})", expand=expanded.get(title, True))
            for value, count in values:
                branch.add_leaf(Text.assemble(value, (f" {count:,}", "dim")), data=Group(kind, value))

    def on_tree_node_selected(self, event: Tree.NodeSelected[Group]) -> None:
        if event.node.data is not None:
            self.post_message(self.GroupChosen(event.node.data))
