"""BitFit against hubcli's plugin contract, with the kit's checker on every family that has
biases (detection, save/load round-trip, injection off = base, merge = unmerged, detach), with
the encoders' task heads saved whole."""

from __future__ import annotations

import pytest
from hubcli.testing import check_architecture_plugin

from bitfit_helpers import write_bitfit_with_head
from hubcli_bitfit import BitFitArchitecture


@pytest.mark.parametrize("family", ["bert", "roberta", "distilbert", "gpt2"])
def test_bitfit_meets_the_contract(family, tmp_path) -> None:
    report = check_architecture_plugin(
        BitFitArchitecture(), write_bitfit_with_head, tmp_path, families=[family]
    )
    assert report.passed == [
        "declaration",
        f"detection ({family})",
        f"save/load round-trip ({family})",
        f"injection ({family})",
        f"merge ({family})",
        f"detach ({family})",
        f"updates round-trip ({family})",
        f"untrained adapter ({family})",
    ]
    assert report.skipped == {}


def test_hubcli_finds_the_installed_package(run_hubcli) -> None:
    """``pip install`` registered the entry point; ``hubcli plugins --check`` loads it."""
    result = run_hubcli("plugins", "--check", "--json")
    assert result.exit_code == 0, result.stderr
    row = next(r for r in result.json() if (r["kind"], r["name"]) == ("architecture", "bitfit"))
    assert (row["distribution"], row["target"], row["status"]) == (
        "hubcli-bitfit",
        "hubcli_bitfit:BitFitArchitecture",
        "loaded",
    )
