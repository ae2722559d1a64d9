"""hubcli prints its own lines only, as the docs show them: no transformers weight-loading bar
or load report around predict and stitch, no empty progress bar before a refusal, and a
training bar that counts real steps for fusions too."""

from __future__ import annotations

from tests.helpers.docs_runner import DocRunner
from tests.helpers.docs_worlds import bitfit, readme


def test_predict_and_stitch_print_only_their_own_lines(tmp_path, hub) -> None:
    """The head a LoRA brings is "missing" from the base checkpoint by design: transformers'
    report of it, and its weight-loading bar, stay out of hubcli's output."""
    runner = DocRunner(readme(tmp_path, hub))
    assert runner.run_line("hubcli add ./my-lora").exit_code == 0
    predicted = runner.run_line('hubcli predict ./tiny-bert my-lora --text "a fine film"')
    assert predicted.exit_code == 0
    assert predicted.output.splitlines() == [
        "./tiny-bert + my-lora (lora), float32 on cpu",
        "input ids (1, 5) → logits (1, 2)",
        "  [0] positive",
    ]
    for out in ("--out bundle", "--out merged --merge"):
        stitched = runner.run_line(f"hubcli stitch ./tiny-bert my-lora {out}")
        assert stitched.exit_code == 0
        for noise in ("Loading weights", "LOAD REPORT", "Writing model shards"):
            assert noise not in stitched.output
        assert stitched.output.splitlines()[0] == "./tiny-bert + my-lora"


def test_a_refused_eval_draws_no_progress_bar(tmp_path, hub) -> None:
    runner = DocRunner(readme(tmp_path, hub))
    assert runner.run_line("hubcli add ./my-lora").exit_code == 0
    (runner.world.cwd / "yes.csv").write_text("text,label\na fine film,yes\n")
    refused = runner.run_line("hubcli eval my-lora --dataset yes.csv")
    assert refused.exit_code == 1
    assert [line for line in refused.output.splitlines() if line.strip()] == [
        "Error: dataset label 'yes' is not one of the head's labels (negative, positive); "
        "the labels must match by name"
    ]
    scored = runner.run_line("hubcli eval my-lora --dataset reviews.csv")
    assert scored.exit_code == 0
    assert scored.output.startswith("eval my-lora ━") and " 80/80 " in scored.output.splitlines()[0]


def test_fusion_training_reports_each_step_as_it_ends(registry) -> None:
    import torch

    from hubcli.compose.setup import activate
    from plugins.compositions.fuse.training import train_fusion
    from tests.test_compose_fuse import SPEC, fused_bert, inputs

    stitched = fused_bert(registry)
    setup = activate(stitched, SPEC)
    target = torch.zeros(2, 7, 32)
    reported: list[float] = []
    losses = train_fusion(
        stitched.model,
        setup,
        [inputs()] * 3,
        lambda output, _batch: (output.last_hidden_state - target).pow(2).mean(),
        epochs=2,
        on_step=reported.append,
    )
    assert len(losses) == 6 and reported == losses


def test_a_parameter_merge_refusal_names_the_method(tmp_path) -> None:
    """Parameter averaging serves bottleneck adapters and plugins' parameter methods (BitFit):
    its refusals name the adapters' own method."""
    runner = DocRunner(bitfit(tmp_path))
    assert runner.run_line("hubcli add ./my-bitfit").exit_code == 0
    trained = "hubcli train --arch bitfit --base ./base --dataset sst2.jsonl --name t --max-steps 1"
    assert runner.run_line(trained).exit_code == 0
    refused = runner.run_line("hubcli merge t my-bitfit --name mixed")
    assert refused.exit_code == 1
    assert refused.output.strip() == (
        "Error: 't' and 'my-bitfit' have different bitfit configs: modules_to_save is ['classifier'] vs []"
    )
    ties = runner.run_line("hubcli merge t t --name twice --method ties")
    assert ties.output.strip() == (
        "Error: bitfit adapters merge only with --method linear (parameter averaging), not ties"
    )
