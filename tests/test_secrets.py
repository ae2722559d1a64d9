"""The Hub token never lands anywhere hubcli writes: the registry (database and files), the
pushed model card and repository files, or any command's output, human or ``--json``."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.peft_files import write_peft_lora
from tests.helpers.registry_state import registry_bytes
from tests.hub_server import TEST_TOKEN, TEST_USER, Fault


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


FAILURE_STATUSES = [401, 403, 404, 409, 500]  # 429 and 503 answer like 500 after retries


@pytest.mark.parametrize("status", FAILURE_STATUSES)
def test_a_failing_hub_that_echoes_the_token_is_redacted(
    hub, cli, hubcli_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, status: int
) -> None:
    """Every Hub call fails with ``status`` and the server quotes the Authorization header it
    received: the error line, ``--json`` and the ``HUBCLI_DEBUG`` traceback blank the token."""
    repo = f"{TEST_USER}/echo"
    assert cli("add", write_peft_lora(tmp_path / "lora")).exit_code == 0
    for method in ("GET", "POST", "HEAD"):
        hub.state.faults.append(Fault("", times=10_000, status=status, method=method, echo_credentials=True))
    outputs = []
    for debug in ("", "1"):
        monkeypatch.setenv("HUBCLI_DEBUG", debug) if debug else monkeypatch.delenv(
            "HUBCLI_DEBUG", raising=False
        )
        for args in (("push", "lora", repo), ("pull", repo, "--name", "x"), ("search", "echo", "--json")):
            result = cli(*args)
            assert result.exit_code == 1, (args, result.stdout, result.stderr)
            outputs += [result.stdout, result.stderr]
    if status >= 409:  # hubcli quotes the server's own words from here on
        assert any("Authorization: ***" in text for text in outputs), "the server's echo is shown, blanked"
    assert not [text for text in outputs if TEST_TOKEN in text]


def test_redact_blanks_every_shape_of_token(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from hubcli.secrets import redact

    (tmp_path / "token").write_text("mine-from-login\n")
    monkeypatch.setenv("HF_TOKEN_PATH", str(tmp_path / "token"))
    monkeypatch.setenv("HF_TOKEN", "s3cr3t-env")
    assert redact("a hf_abcdefghijkl b") == "a *** b"
    assert redact("Authorization: Bearer abc.def") == "Authorization: ***"
    assert redact('{"authorization": "tok"}') == '{"authorization": "***"}'
    assert redact("Bearer xyz, then") == "Bearer ***, then"
    assert redact("url?token=s3cr3t-env&x=mine-from-login") == "url?token=***&x=***"
    assert redact("plain words stay") == "plain words stay"
