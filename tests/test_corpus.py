"""Every case of the bad-input corpus: one clear line, exit code 1, registry unchanged."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.corpus import CASES, exploit_marker
from tests.helpers.peft_files import write_peft_lora
from tests.helpers.registry_state import registry_bytes


@pytest.fixture
def populated(cli, tmp_path: Path, hubcli_home: Path) -> Path:
    """A registry that already holds one adapter, so 'unchanged' means something."""
    assert cli("add", write_peft_lora(tmp_path / "good")).exit_code == 0
    return hubcli_home


@pytest.mark.parametrize("case_id", sorted(CASES))
def test_bad_input(case_id: str, cli, populated: Path, tmp_path: Path) -> None:
    case = CASES[case_id]
    root = tmp_path / "case"
    target = case.build(root)
    before = registry_bytes(populated)

    result = cli("add", target)

    assert result.exit_code == 1, result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ") and case.message in lines[0], lines[0]
    assert registry_bytes(populated) == before
    assert not exploit_marker(root).exists(), "a pickle executed code"


def test_nan_weights_are_imported_with_a_warning(cli, tmp_path: Path) -> None:
    import numpy as np
    from safetensors.numpy import load_file, save_file

    folder = write_peft_lora(tmp_path / "nan")
    weights = folder / "adapter_model.safetensors"
    tensors = load_file(str(weights))
    name = sorted(tensors)[0]
    tensors[name][0, :3] = [np.nan, np.inf, -np.inf]
    save_file(tensors, str(weights))

    result = cli("add", folder, "--json")
    assert result.exit_code == 0
    assert f"tensor '{name}' has 3 NaN/Inf values" in result.stderr
    assert result.json()[0]["warnings"] == [
        f"{folder}/adapter_model.safetensors: tensor '{name}' has 3 NaN/Inf values"
    ]


def test_a_good_archive_imports(cli, tmp_path: Path) -> None:
    import tarfile

    folder = write_peft_lora(tmp_path / "my-lora")
    archive = tmp_path / "my-lora.tar.gz"
    with tarfile.open(archive, "w:gz") as bundle:
        bundle.add(folder, arcname="my-lora")
    outcome = cli("add", archive, "--json").json()[0]
    assert outcome["adapter"]["name"] == "my-lora"
    assert outcome["adapter"]["source"] == f"{archive}/my-lora"
