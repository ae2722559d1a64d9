"""The README and docs are executed: every ```console block with `$ hubcli` lines runs.

Each page with such blocks is one test: its blocks run in order in one world
(tests/helpers/docs_worlds.py) and every command must exit as the page implies (1 when the shown
output starts with ``Error:``, else 0) and print what the page shows. The rules for authors are
in docs/development.md, "Executed documentation".
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from tests.helpers.docs_runner import (
    ROOT,
    DocRunner,
    DocsFormatError,
    collect,
    documents,
    output_matches,
    parse_blocks,
    runs_hubcli,
    split_line,
)
from tests.helpers.docs_worlds import WORLDS, fixtures_of

PAGES = documents()
RUNNABLE = [doc for doc in PAGES if runs_hubcli((ROOT / doc).read_text(encoding="utf-8"))]


DEMO_PAGE = "docs/demo.md"


@pytest.fixture(scope="session")
def demo_page(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """docs/demo.md's examples (`hubcli demo` on the bundled MiniLM, about 30 s), run once per
    test session, also across xdist workers (a file lock in the session's shared temp folder):
    the failures, and the world it leaves for the pages built on the demo."""
    from filelock import FileLock

    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent
    shared, result = root / "docs-demo", root / "docs-demo.json"
    with FileLock(str(root / "docs-demo.lock")):
        if not result.exists():
            shutil.rmtree(shared, ignore_errors=True)
            world = WORLDS[DEMO_PAGE](shared)
            failures = DocRunner(world).run_blocks(collect(DEMO_PAGE))
            result.write_text(json.dumps({"failures": failures, "cwd": str(world.cwd), "env": world.env}))
    return json.loads(result.read_text())


@pytest.fixture
def demo_registry(demo_page: dict):
    from tests.helpers.docs_runner import World

    return World(Path(demo_page["cwd"]), dict(demo_page["env"]))


@pytest.mark.parametrize("doc", PAGES)
def test_every_hubcli_example_is_a_console_block(doc: str) -> None:
    collect(doc)  # raises DocsFormatError, naming the line


def test_opt_outs_are_rare() -> None:
    skipped = [f"{b.doc}:{b.line} ({b.skip})" for doc in PAGES for b in collect(doc) if b.skip]
    assert len(skipped) <= 3, skipped


@pytest.mark.parametrize("doc", RUNNABLE)
def test_docs_examples(doc: str, tmp_path, request: pytest.FixtureRequest) -> None:
    blocks = collect(doc)
    assert doc in WORLDS, f"{doc}: no world for its examples; add one to tests/helpers/docs_worlds.py"
    if doc == DEMO_PAGE:  # run once per session, since other pages build on what it leaves
        failures = request.getfixturevalue("demo_page")["failures"]
    else:
        fixtures = {name: request.getfixturevalue(name) for name in fixtures_of(doc)}
        failures = DocRunner(WORLDS[doc](tmp_path, **fixtures)).run_blocks(blocks)
    assert not failures, f"{len(failures)} example(s) of {doc} do not do what the page shows:\n\n" + (
        "\n\n".join(failures)
    )


# -- the collector and the comparison ---------------------------------------------------------------


def test_a_plain_block_that_runs_hubcli_is_refused() -> None:
    with pytest.raises(DocsFormatError, match=r"page.md:3: a block with `\$ hubcli` lines must be"):
        parse_blocks("text\n\n```\n$ hubcli list\n```\n", "page.md")


def test_synopsis_blocks_without_a_prompt_are_left_alone() -> None:
    assert parse_blocks("```\nhubcli merge A B … --name NEW [...]\n```\n", "page.md") == []


def test_commands_continuations_comments_and_shown_output() -> None:
    text = (
        "```console\n"
        "$ hubcli add ./x   # a comment\n"
        "✓ registered\n"
        "$ hubcli predict b x --text 'a' \\\n"
        "    --per-row x,-\n"
        "```\n"
    )
    (block,) = parse_blocks(text, "page.md")
    first, second = block.commands
    assert (first.line, first.text, first.shown) == (2, "hubcli add ./x   # a comment", ["✓ registered"])
    assert (second.line, second.text, second.shown) == (4, "hubcli predict b x --text 'a' --per-row x,-", [])
    assert split_line(first.text) == [["hubcli add ./x"]]


def test_split_line_keeps_quotes_and_substitutions() -> None:
    assert split_line("hubcli show a --json | jq '.x | .y' && echo '#no comment' # comment") == [
        ["hubcli show a --json", "jq '.x | .y'"],
        ["echo '#no comment'"],
    ]
    assert split_line("X=$(hubcli demo --json | jq -r .base)") == [["X=$(hubcli demo --json | jq -r .base)"]]


def test_error_lines_set_the_expected_exit_code() -> None:
    (block,) = parse_blocks("```console\n$ hubcli add ./broken\nError: no\n$ hubcli list\n```\n", "p.md")
    assert [c.expected_exit_code for c in block.commands] == [1, 0]


def test_skip_marker_needs_a_reason_and_a_block() -> None:
    skipped = "<!-- docs-test: skip — needs a GPU -->\n```console\n$ hubcli predict b a --device cuda\n```\n"
    assert parse_blocks(skipped, "p.md")[0].skip == "needs a GPU"
    with pytest.raises(DocsFormatError, match="needs a reason"):
        parse_blocks("<!-- docs-test: skip -->\n```console\n$ hubcli list\n```\n", "p.md")
    with pytest.raises(DocsFormatError, match="right above"):
        parse_blocks("<!-- docs-test: skip — why -->\n\nsome text\n", "p.md")
    quoted = "Skip with `<!-- docs-test: skip — reason -->` above the fence.\n"
    assert parse_blocks(quoted, "p.md") == [] and not runs_hubcli(quoted + "a line with `$ hubcli add`\n")


def test_output_comparison_normalises_space_and_honours_the_ellipsis() -> None:
    printed = " name   params\n my-lora   2.1K\n\n sst2  2.4K \n"
    assert output_matches(["name params", "my-lora 2.1K", "sst2 2.4K"], printed)
    assert output_matches(["name params", "…"], printed)
    assert output_matches(["…", "sst2 2.4K"], printed)
    assert output_matches(["name …", "my-lora …", "…"], printed)
    assert not output_matches(["name params", "my-lora 2.1K"], printed)  # a line left out
    assert not output_matches(["name params", "my-lora 2.2K", "…"], printed)
