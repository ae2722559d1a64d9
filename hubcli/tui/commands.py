"""The command palette's provider: every hubcli action that can run right now.

It reads the same catalogue as the key bindings and asks the app which actions apply to the
current selection, so the palette never offers an action that would do nothing.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, cast

from textual.command import DiscoveryHit, Hit, Hits, Provider

from hubcli.tui.actions import ACTIONS, TuiAction

if TYPE_CHECKING:
    from hubcli.tui.app import HubcliApp


class ActionsProvider(Provider):
    def _available(self) -> list[TuiAction]:
        app = cast("HubcliApp", self.app)
        return [action for action in ACTIONS if app.action_available(action.id)]

    def _help(self, action: TuiAction) -> str:
        return f"{action.label} · {cast('HubcliApp', self.app).keys_for(action.id)}"

    async def discover(self) -> Hits:
        for action in self._available():
            yield DiscoveryHit(
                action.description, partial(self.app.run_action, action.id), help=self._help(action)
            )

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for action in self._available():
            text = f"{action.label}: {action.description}"
            score = matcher.match(text)
            if score > 0:
                yield Hit(
                    score,
                    matcher.highlight(text),
                    partial(self.app.run_action, action.id),
                    help=self._help(action),
                )
