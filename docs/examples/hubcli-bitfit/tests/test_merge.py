"""``hubcli merge`` on BitFit adapters: the plugin describes its bias deltas as parameter
updates and writes the result back as a BitFit folder, so a linear merge is parameter averaging
(heads averaged as a model soup), and it runs exactly like the ``average`` block."""

from __future__ import annotations

from hubcli.testing import activate_composition, model_output, stitch, tiny_inputs, tiny_model
from hubcli.testing.tolerance import assert_outputs_close, assert_weights_close
from safetensors.torch import load_file

from bitfit_helpers import write_bitfit
from hubcli_bitfit import average_bitfit


def test_a_linear_merge_averages_the_deltas_and_heads(tmp_path, run_hubcli, temp_registry) -> None:
    model = tiny_model("bert")
    first = write_bitfit(tmp_path / "a", model, "bert", seed=1, with_head=True)
    second = write_bitfit(tmp_path / "b", model, "bert", seed=2, with_head=True)
    for name in ("a", "b"):
        assert run_hubcli("add", tmp_path / name, "--name", name).exit_code == 0
    merged = run_hubcli("merge", "a", "b", "--name", "soup", "--method", "linear", "--weights", "1,3")
    assert merged.exit_code == 0, merged.stderr

    shown = run_hubcli("show", "soup", "--json").json()
    assert (shown["architecture"], shown["format"], "merged" in shown["tags"]) == ("bitfit", "native", True)
    path = temp_registry.file_path(
        next(
            f
            for f in temp_registry.files(temp_registry.get_adapter("soup"))
            if f.path == "bitfit.safetensors"
        )
    )
    stored = load_file(path)
    expected = average_bitfit([first, second], [0.25, 0.75])
    for key, value in expected.items():
        assert_weights_close(stored[key], value, width=2, what=key)
    heads = [load_file(tmp_path / name / "bitfit.safetensors") for name in ("a", "b")]
    assert_weights_close(
        stored["classifier.weight"],
        0.25 * heads[0]["classifier.weight"] + 0.75 * heads[1]["classifier.weight"],
        width=2,
    )

    stitched = stitch(model, ["a", "b", "soup"], registry=temp_registry, activate=False)
    stitched.activate("soup")
    soup = model_output(stitched.forward(*tiny_inputs()))
    activate_composition(stitched, "average(a, b, weights=[1, 3])")
    averaged = model_output(stitched.forward(*tiny_inputs()))
    # BERT's head is one Linear on the pooled state: averaging its outputs = averaging its weights.
    assert_outputs_close(soup, averaged, model)


def test_merges_that_need_a_shared_base_are_refused(tmp_path, run_hubcli) -> None:
    model = tiny_model("bert")
    for seed, name in ((1, "a"), (2, "b")):
        write_bitfit(tmp_path / name, model, "bert", seed=seed)
        assert run_hubcli("add", tmp_path / name, "--name", name).exit_code == 0
    refused = run_hubcli("merge", "a", "b", "--name", "x", "--method", "ties")
    assert refused.exit_code == 1 and "--method linear" in refused.stderr
    assert [row["name"] for row in run_hubcli("list", "--json").json()] == ["a", "b"]
