"""The main adapter table: a window onto the registry, loaded page by page.

A DataTable keeps every row it holds, so the table never asks for more than the user has
scrolled to: the first page on each new query, the next when the cursor or the scroll position
nears the end. Queries run in a thread worker; a generation counter drops pages of a query
the user has already replaced by typing further.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.binding import Binding
from textual.message import Message
from textual.widgets import DataTable
from textual.worker import Worker, WorkerState

from hubcli.formatting import architecture_label, human_count, human_size
from registry import Adapter, Registry

PAGE_SIZE = 200
PREFETCH_ROWS = 40

COLUMNS: tuple[tuple[str, str, str | None], ...] = (
    # (column key, header, registry sort column or None when not sortable)
    ("name", "Name", "name"),
    ("architecture", "Architecture", "architecture"),
    ("base_model", "Base model", "base_model"),
    ("num_parameters", "Params", "num_parameters"),
    ("size_bytes", "Size", "size_bytes"),
    ("format", "Format", None),
    ("tags", "Tags", None),
)
TABLE_BINDING_IDS = ("sort_next", "sort_reverse")


@dataclass(frozen=True)
class AdapterQuery:
    """What the table shows: the registry's ``list_adapters`` filters and order."""

    search: str = ""
    architecture: str | None = None
    base_model: str | None = None
    tag: str | None = None
    sort: str = "name"
    descending: bool = False

    def describe(self) -> str:
        parts = [
            f"{kind} {value}"
            for kind, value in (
                ("base", self.base_model),
                ("arch", self.architecture),
                ("tag", self.tag),
            )
            if value
        ]
        if self.search:
            parts.append(f"“{self.search}”")
        order = f"by {self.sort}{' ↓' if self.descending else ''}"
        return " · ".join([*parts, order])


@dataclass(frozen=True)
class Page:
    generation: int
    offset: int
    adapters: list[Adapter]
    tags: dict[int, list[str]]


def fetch_page(registry: Registry, query: AdapterQuery, offset: int, generation: int) -> Page:
    adapters = registry.list_adapters(
        architecture=query.architecture,
        base_model=query.base_model,
        tag=query.tag,
        search=query.search or None,
        sort=query.sort,
        descending=query.descending,
        limit=PAGE_SIZE,
        offset=offset,
    )
    return Page(generation, offset, adapters, registry.tags_by_adapter([a.id for a in adapters]))


def row_cells(adapter: Adapter, tags: list[str]) -> tuple[str | Text, ...]:
    return (
        adapter.name,
        architecture_label(adapter.architecture, adapter.variant),
        adapter.base_model or "-",
        Text(human_count(adapter.num_parameters), justify="right"),
        Text(human_size(adapter.size_bytes), justify="right"),
        adapter.format,
        ", ".join(tags),
    )


class AdapterTable(DataTable):
    """Adapters matching ``adapter_query``; row keys are adapter names."""

    HELP: ClassVar[str] = """\
## Adapters

One row per registered adapter matching the filter and the group chosen on the left.
Rows load as you scroll, so this stays quick with any number of adapters.

- **Up/Down, PgUp/PgDn, Ctrl+Home/Ctrl+End**: move; the detail panel follows the cursor.
- **Click a column header**, or **s** / **r**: sort by that column / reverse the order.
"""

    BINDINGS: ClassVar[list[Binding]] = [
        Binding("s", "sort_next", "Sort", id="sort_next"),
        Binding("r", "sort_reverse", "Reverse", id="sort_reverse"),
    ]

    class Loaded(Message):
        """A page arrived: ``rows`` are now in the table, ``complete`` when no more match."""

        def __init__(self, query: AdapterQuery, rows: int, complete: bool) -> None:
            super().__init__()
            self.query = query
            self.rows = rows
            self.complete = complete

    class QueryChanged(Message):
        """The user changed the order from inside the table (so the app can remember it)."""

        def __init__(self, query: AdapterQuery) -> None:
            super().__init__()
            self.query = query

    def __init__(self, registry: Registry, query: AdapterQuery, **kwargs: object) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)  # type: ignore[arg-type]
        self.registry = registry
        self.adapter_query = query
        self.complete = False
        self._generation = 0
        self._loading = False
        self._keep_cursor_on: str | None = None
        self.adapters: dict[str, Adapter] = {}

    def on_mount(self) -> None:
        for key, label, _ in COLUMNS:
            self.add_column(label, key=key)
        self.border_title = "Adapters"
        self.set_query(self.adapter_query)

    # -- loading ---------------------------------------------------------------------------

    def set_query(self, query: AdapterQuery) -> None:
        """Show ``query`` from its first row on."""
        self.adapter_query = query
        self._generation += 1
        self._loading = False
        self._keep_cursor_on = None
        self.complete = False
        self.adapters.clear()
        self.clear()
        self._label_columns()
        self.border_subtitle = f"loading … · {query.describe()}"
        self._request_page()

    def reload(self) -> None:
        """Fetch again (the registry changed), keeping the cursor on the same adapter if it is
        still in the first page."""
        selected = self.selected
        self.set_query(self.adapter_query)
        self._keep_cursor_on = selected.name if selected else None

    def _request_page(self) -> None:
        if self._loading or self.complete:
            return
        self._loading = True
        self.run_worker(
            lambda q=self.adapter_query, o=self.row_count, g=self._generation: fetch_page(
                self.registry, q, o, g
            ),
            thread=True,
            group="adapter-pages",
            exclusive=True,
            exit_on_error=False,
            description="load adapters",
        )

    @on(Worker.StateChanged)
    def _page_arrived(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "adapter-pages":
            return
        if event.state == WorkerState.ERROR:
            self._loading = False
        if event.state != WorkerState.SUCCESS:
            return
        page: Page = event.worker.result
        if page.generation != self._generation or page.offset != self.row_count:
            return  # a page of a query the user has replaced
        self._loading = False
        for adapter in page.adapters:
            if adapter.name in self.adapters:
                continue  # an adapter added meanwhile shifted the pages
            self.adapters[adapter.name] = adapter
            self.add_row(*row_cells(adapter, page.tags[adapter.id]), key=adapter.name)
        self.complete = len(page.adapters) < PAGE_SIZE
        if self._keep_cursor_on in self.adapters:
            self.move_cursor(row=self.get_row_index(self._keep_cursor_on))
        self._keep_cursor_on = None
        shown = f"{self.row_count:,}" if self.complete else f"{self.row_count:,}+"
        self.border_subtitle = f"{shown} · {self.adapter_query.describe()}"
        self.post_message(self.Loaded(self.adapter_query, self.row_count, self.complete))

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if new_value >= self.max_scroll_y - PREFETCH_ROWS:
            self._request_page()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.cursor_row >= self.row_count - PREFETCH_ROWS:
            self._request_page()

    @property
    def selected(self) -> Adapter | None:
        """The adapter under the cursor, if any."""
        if not self.row_count:
            return None
        key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        return self.adapters.get(key) if key is not None else None

    # -- sorting ---------------------------------------------------------------------------

    def _label_columns(self) -> None:
        arrow = " ▼" if self.adapter_query.descending else " ▲"
        for key, label, sort in COLUMNS:
            column = self.columns.get(key)  # type: ignore[call-overload]
            if column is not None:
                column.label = Text(label + (arrow if sort == self.adapter_query.sort else ""))

    def _sort_by(self, sort: str, descending: bool) -> None:
        self.set_query(replace(self.adapter_query, sort=sort, descending=descending))
        self.post_message(self.QueryChanged(self.adapter_query))

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        sort = dict((key, s) for key, _, s in COLUMNS).get(str(event.column_key.value))
        if sort is None:
            self.notify(f"The {event.label.plain} column cannot be sorted.", severity="warning")
        elif sort == self.adapter_query.sort:
            self._sort_by(sort, not self.adapter_query.descending)
        else:
            self._sort_by(sort, False)

    def action_sort_next(self) -> None:
        order = [s for _, _, s in COLUMNS if s]
        current = order.index(self.adapter_query.sort) if self.adapter_query.sort in order else -1
        self._sort_by(order[(current + 1) % len(order)], self.adapter_query.descending)

    def action_sort_reverse(self) -> None:
        self._sort_by(self.adapter_query.sort, not self.adapter_query.descending)
