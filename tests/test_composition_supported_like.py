"""``CompositionPlugin.supported_like``: a third-party block borrows the architecture support
of an existing block, since architectures list the blocks they take part in by name and
cannot know blocks written after them (docs/examples/hubcli-sum)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from hubcli import discovery
from hubcli.compose.text import parse
from hubcli.compose.validate import validate
from hubcli.plugin_api import CompositionPlugin, SpecError

ARCHITECTURES = {"l": "lora", "b": "bottleneck", "i": "ia3", "x": "prefix_tuning"}


class Summing(CompositionPlugin):
    """The children's changes added; asks of them only what ``average`` asks."""

    name = "summing"
    api_version = 2
    min_children = 2
    supported_like = "average"

    def route(self, state: Any, children: Any, args: Any, owned: Any) -> Any:
        return state.mix([child(state) for child in children], [1.0] * len(children))


class Unrelated(Summing):
    name = "unrelated"
    supported_like = None


@pytest.fixture
def blocks() -> Iterator[None]:
    for block in (Summing(), Unrelated()):
        discovery.manager.register("composition", block.name, block)
    yield
    for block in (Summing, Unrelated):
        discovery.manager.unregister("composition", block.name)


def test_architectures_that_support_average_take_part(blocks) -> None:
    validate(parse("summing(l, b, i)"), ARCHITECTURES)


def test_an_architecture_without_average_is_refused_by_the_new_blocks_name(blocks) -> None:
    with pytest.raises(
        SpecError, match=r"architecture 'prefix_tuning' \(adapter 'x'\) does not support the 'summing' block"
    ):
        validate(parse("summing(l, x)"), ARCHITECTURES)


def test_a_block_that_borrows_nothing_is_supported_by_no_architecture(blocks) -> None:
    with pytest.raises(
        SpecError, match=r"architecture 'lora' \(adapter 'l'\) does not support the 'unrelated' block"
    ):
        validate(parse("unrelated(l, b)"), ARCHITECTURES)
