"""The Hub token never lands anywhere hubcli writes: the registry (database and files), the
pushed model card and repository files, or any command's output, human or ``--json``."""

from __future__ import annotations

from pathlib import Path

from tests.helpers.peft_files import write_peft_lora
from tests.helpers.registry_state import registry_bytes
from tests.hub_server import TEST_TOKEN, TEST_USER


def test_the_token_is_never_written_or_printed(hub, cli, hubcli_home: Path, tmp_path: Path) -> None:
    repo = f"{TEST_USER}/secret-check"
    outputs = []
    for args in (
        ("add", write_peft_lora(tmp_path / "lora")),
        ("push", "lora", repo, "--private", "--json"),
        ("push", "lora", repo),
        ("pull", repo, "--name", "pulled", "--json"),
        ("pull", repo, "--name", "pulled"),
        ("search", "secret", "--json"),
        ("show", "lora", "--json"),
        ("show", "pulled"),
        ("list", "--json"),
        ("verify", "--json"),
    ):
        result = cli(*args)
        assert result.exit_code == 0, (args, result.stderr)
        outputs += [result.stdout, result.stderr]

    pushed = hub.state.repos[repo]
    remote_files = [f.content for commit in pushed.commits.values() for f in commit.files.values()]
    assert any(b"library_name" in content for content in remote_files), "the model card was pushed"
    token = TEST_TOKEN.encode()
    assert not [text for text in outputs if TEST_TOKEN in text]
    assert not [name for name, content in registry_bytes(hubcli_home).items() if token in content]
    assert not [content for content in remote_files if token in content]
