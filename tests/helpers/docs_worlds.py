"""The worlds the documentation's examples run in (see tests/helpers/docs_runner.py).

A world is a working directory holding the folders and files a page names, a fresh registry
(``HUBCLI_HOME``) and an HF cache of its own, and — for pages that pull, push or search — the
session's test Hub (tests/hub_server.py) holding the repositories the page uses. Everything is
made here from real parts: tiny BERTs built from configs with a word-level tokenizer
(tests/helpers/text_models.py), LoRAs saved by PEFT's own ``save_pretrained``, AdapterHub folders
copied from the goldens that the ``adapters`` library wrote (tests/golden/), and the registry of
``hubcli demo`` on the bundled all-MiniLM-L6-v2 for the pages built on the demo.
"""

from __future__ import annotations

import csv
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hubcli.engine.loading import quiet_transformers
from tests.helpers.docs_runner import World
from tests.helpers.text_models import sentiment_rows, write_jsonl, write_tiny_bert

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "adapterhub"
TINY_BERT = "./tiny-bert"
"""The base model the tiny worlds' adapters are made for: a folder in the working directory."""


def new_world(root: Path) -> World:
    """An empty working directory with its own registry and HF cache."""
    cwd = root / "work"
    cwd.mkdir(parents=True)
    env = {
        "HUBCLI_HOME": str(root / "hubcli-home"),
        "HF_HUB_CACHE": str(root / "hf-cache"),
        "COLUMNS": "160",
    }
    return World(cwd, env)


# -- adapters and data ------------------------------------------------------------------------------


def save_peft_lora(
    folder: Path,
    base: Path,
    *,
    seed: int,
    r: int = 8,
    targets: tuple[str, ...] = ("query", "value"),
    head: bool = True,
    scale: float = 0.2,
    base_name: str = TINY_BERT,
) -> Path:
    """A LoRA saved by PEFT's ``save_pretrained`` for the tiny BERT at ``base``: a sequence
    classifier (its head in ``modules_to_save``) or, with ``head=False``, a bare-backbone LoRA.
    Its weights are random (seeded): PEFT starts B at zero, which would make every LoRA the same."""
    import peft
    import torch
    import transformers as tf

    with quiet_transformers():
        model = (tf.AutoModelForSequenceClassification if head else tf.AutoModel).from_pretrained(base)
    model.name_or_path = model.config._name_or_path = base_name  # as if loaded under that name
    config = peft.LoraConfig(
        task_type="SEQ_CLS" if head else None, r=r, lora_alpha=2 * r, target_modules=list(targets)
    )
    wrapped = peft.get_peft_model(model, config)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in wrapped.named_parameters():
            if "lora_" in name or "modules_to_save" in name:
                param.copy_(torch.randn(param.shape, generator=generator) * scale)
    wrapped.save_pretrained(folder)
    return folder


def nudged_copy(source: Path, folder: Path, *, seed: int, scale: float) -> Path:
    """A copy of a PEFT LoRA folder with noise of ``scale`` added to every tensor."""
    import torch
    from safetensors.torch import load_file, save_file

    shutil.copytree(source, folder)
    tensors = load_file(folder / "adapter_model.safetensors")
    generator = torch.Generator().manual_seed(seed)
    nudged = {k: v + scale * torch.randn(v.shape, generator=generator) for k, v in tensors.items()}
    save_file(nudged, folder / "adapter_model.safetensors", metadata={"format": "pt"})
    return folder


def golden(name: str, folder: Path, model: str = "bert") -> Path:
    """An AdapterHub folder written by the real ``adapters`` library (tests/golden/README.md)."""
    shutil.copytree(GOLDEN / model / "adapters" / name, folder)
    return folder


def write_csv(path: Path, rows: list[dict[str, Any]]) -> Path:
    with path.open("w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def with_split(rows: list[dict[str, Any]], test: int) -> list[dict[str, Any]]:
    """``rows`` with a ``split`` column: the last ``test`` rows are ``test``, the rest ``train``."""
    return [{**row, "split": "test" if i >= len(rows) - test else "train"} for i, row in enumerate(rows)]


BROKEN_CONFIG = '{\n  "peft_type": "LORA"\n    "r": 8\n}\n'
"""An ``adapter_config.json`` with a comma missing at the end of line 2."""


def tiny_world(root: Path) -> World:
    """A working directory with ``./tiny-bert`` (a 2-layer BERT sequence classifier with a
    word-level tokenizer and labels named negative, positive) and ``./reviews.csv`` (short sentences labelled positive/negative)."""
    world = new_world(root)
    base = write_tiny_bert(world.cwd / "tiny-bert")
    config = json.loads((base / "config.json").read_text())
    config["id2label"] = {"0": "negative", "1": "positive"}
    config["label2id"] = {"negative": 0, "positive": 1}
    (base / "config.json").write_text(json.dumps(config, indent=2))
    write_csv(world.cwd / "reviews.csv", sentiment_rows(80, seed=1))
    return world


# -- the test Hub -----------------------------------------------------------------------------------


def publish(
    hub: Any, repo_id: str, folder: Path, *, downloads: int = 0, likes: int = 0, tag: str | None = None
) -> str:
    """Put a folder on the test Hub as one commit on ``main`` (what an upload leaves there),
    optionally tagged; returns the commit sha."""
    from tests.hub_server import StoredFile

    state = hub.state
    repo = state.repos.get(repo_id) or state.create_repo(repo_id)
    files = {
        str(path.relative_to(folder)): StoredFile(
            path.read_bytes(), lfs=path.suffix in (".safetensors", ".bin")
        )
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }
    commit = state.commit(repo, "main", files, set(), f"upload {folder.name}")
    repo.downloads, repo.likes = downloads, likes
    if tag:
        repo.tags[tag] = commit.sha
    return commit.sha


def card(library: str, base: str, tags: list[str]) -> str:
    """A model card's front matter as the Hub reads it (library, base model, tags)."""
    listed = "".join(f"- {tag}\n" for tag in tags)
    return f"---\nlibrary_name: {library}\nbase_model: {base}\ntags:\n{listed}---\n\n# An adapter\n"


def use_hub(world: World, hub: Any) -> None:
    world.env.update(HF_ENDPOINT=hub.endpoint, HF_TOKEN=hub.token)


# -- the pages --------------------------------------------------------------------------------------


def readme(root: Path, hub: Any) -> World:
    world = tiny_world(root)
    cwd = world.cwd
    save_peft_lora(cwd / "my-lora", cwd / "tiny-bert", seed=1)
    golden("seq_bn", cwd / "adapterhub-sst2")
    (cwd / "broken").mkdir()
    (cwd / "broken" / "adapter_config.json").write_text(BROKEN_CONFIG)
    use_hub(world, hub)
    staging = root / "to-publish"
    publish(
        hub,
        "someone/tiny-bert-lora",
        save_peft_lora(staging / "other", cwd / "tiny-bert", seed=2, head=False),
    )
    return world


def export(root: Path, hub: Any) -> World:
    world = tiny_world(root)
    save_peft_lora(world.cwd / "peft-lora", world.cwd / "tiny-bert", seed=3, head=False)
    golden("seq_bn", world.cwd / "adapterhub-seq-bn")
    use_hub(world, hub)
    return world


GOLDEN_BERT = "hubcli-golden/tiny-bert"
"""The id the AdapterHub goldens give their tiny BERT (``model_name``); the hub page's adapters
are all made on that model (tests/golden/adapterhub/bert/base), so they say the same."""


def hub_page(root: Path, hub: Any) -> World:
    """docs/hub.md: a bottleneck (AdapterHub files) and a LoRA with a tagged release on the test
    Hub, a repository of someone else's, and a LoRA folder to push."""
    world = new_world(root)
    base, staging = GOLDEN / "bert" / "base", root / "to-publish"
    bottleneck = golden("seq_bn", staging / "seq-bn-sst2")
    (bottleneck / "README.md").write_text(
        card("adapter-transformers", GOLDEN_BERT, ["adapters", "adapter-transformers", "text-classification"])
    )
    publish(hub, "someone/seq-bn-sst2", bottleneck, downloads=1210, likes=3)
    for seed, tag in ((4, "v1.0"), (5, None)):
        lora = save_peft_lora(staging / f"lora-{seed}", base, seed=seed, head=False, base_name=GOLDEN_BERT)
        publish(hub, "me/lora-sst2", lora, downloads=50, tag=tag)
    publish(hub, "someone/else", golden("lora", staging / "else"))
    save_peft_lora(world.cwd / "sst2-lora", base, seed=6, head=False, base_name=GOLDEN_BERT)
    use_hub(world, hub)
    return world


def compositions(root: Path) -> World:
    """docs/compositions.md: ``./tiny-bert`` is the goldens' BERT (no tokenizer: the page passes
    token ids), ``adapters/`` what the ``adapters`` library saved for it (tests/golden/)."""
    world = new_world(root)
    shutil.copytree(GOLDEN / "bert" / "base", world.cwd / "tiny-bert")
    for name in ("seq_bn", "seq_bn_2", "seq_bn_3", "fusion"):
        golden(name, world.cwd / "adapters" / name)
    return world


def compare(root: Path) -> World:
    """docs/compare.md: six LoRAs on the tiny BERT (query/value, r = 4) registered —
    ``sst2-run2`` a nudged copy of ``sst2-run1``, ``sst2-run3`` of ``sst2-run2``, ``mnli-run2``
    of ``mnli-run1``, ``qnli`` on its own — and ``sentiment.jsonl`` with 50 test rows."""
    from tests.helpers.docs_runner import DocRunner

    world = tiny_world(root)
    cwd, made = world.cwd, root / "loras"
    rows = sentiment_rows(200, seed=2)
    write_jsonl(cwd / "sentiment.jsonl", with_split(rows, 50))

    def lora(name: str, seed: int) -> Path:
        return save_peft_lora(made / name, cwd / "tiny-bert", seed=seed, r=4, head=False)

    folders = {
        "sst2-run1": lora("sst2-run1", 11),
        "mnli-run1": lora("mnli-run1", 12),
        "qnli": lora("qnli", 13),
    }
    folders["sst2-run2"] = nudged_copy(folders["sst2-run1"], made / "sst2-run2", seed=21, scale=0.08)
    folders["sst2-run3"] = nudged_copy(folders["sst2-run2"], made / "sst2-run3", seed=22, scale=0.08)
    folders["mnli-run2"] = nudged_copy(folders["mnli-run1"], made / "mnli-run2", seed=23, scale=0.08)
    runner = DocRunner(world)
    for name in ("sst2-run1", "sst2-run2", "sst2-run3", "mnli-run1", "mnli-run2", "qnli"):
        added = runner.run_line(f"hubcli add {folders[name]} --name {name}")
        assert added.exit_code == 0, added.output
    return world


def save_bitfit_deltas(folder: Path, base: Path, *, seed: int) -> Path:
    """A BitFit adapter (docs/examples/hubcli-bitfit) as its ``save_bitfit`` writes one: random
    deltas for the biases of query, value and output.dense of the tiny BERT at ``base``."""
    import torch
    import transformers as tf
    from hubcli_bitfit import save_bitfit

    targets = ["query", "value", "output.dense"]
    with quiet_transformers():
        model = tf.AutoModelForSequenceClassification.from_pretrained(base)
    generator = torch.Generator().manual_seed(seed)
    deltas = {
        f"{path}.bias": torch.randn(module.bias.shape, generator=generator) * 0.5
        for path, module in model.named_modules()
        if isinstance(module, torch.nn.Linear) and any(path.endswith(t) for t in targets)
    }
    save_bitfit(folder, deltas, targets, base_model="./base", model_type="bert", task_type="SEQ_CLS")
    return folder


def bitfit(root: Path) -> World:
    """The BitFit plugin's pages: ``./base`` (the tiny BERT), ``sst2.jsonl``, ``./my-bitfit``."""
    world = new_world(root)
    base = write_tiny_bert(world.cwd / "base")
    write_jsonl(world.cwd / "sst2.jsonl", sentiment_rows(120, seed=3))
    save_bitfit_deltas(world.cwd / "my-bitfit", base, seed=7)
    return world


def sum_block(root: Path) -> World:
    """hubcli-sum's page: ``./base`` and two LoRAs for it saved by PEFT."""
    world = new_world(root)
    base = write_tiny_bert(world.cwd / "base")
    for seed, name in ((8, "sentiment"), (9, "topic")):
        save_peft_lora(world.cwd / name, base, seed=seed, head=False, base_name="./base")
    return world


def phi(root: Path) -> World:
    """hubcli-phi's page: ``./tiny-phi`` (a 2-layer Phi language model built from its config)
    and ``./my-phi-lora``, a LoRA PEFT saved for it."""
    import peft
    import torch
    import transformers as tf

    world = new_world(root)
    torch.manual_seed(0)
    config = tf.PhiConfig(
        vocab_size=100,
        hidden_size=32,
        intermediate_size=37,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=64,
        pad_token_id=0,
    )
    model = tf.PhiForCausalLM(config)
    model.save_pretrained(world.cwd / "tiny-phi")
    model.name_or_path = model.config._name_or_path = "./tiny-phi"
    lora = peft.LoraConfig(task_type="CAUSAL_LM", r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"])
    wrapped = peft.get_peft_model(model, lora)
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, param in wrapped.named_parameters():
            if "lora_" in name:
                param.copy_(torch.randn(param.shape, generator=generator) * 0.2)
    wrapped.save_pretrained(world.cwd / "my-phi-lora")
    return world


def demo(root: Path) -> World:
    """docs/demo.md: an empty registry; the page's own ``hubcli demo`` fills it."""
    return new_world(root)


def on_demo(root: Path, demo_registry: World) -> World:
    """A copy of the registry docs/demo.md left (run once per session), and its variables:
    ``$BASE`` the bundled all-MiniLM-L6-v2 folder, ``$D`` the demo's sentiment.csv (the path the
    demo's stored scores name, so later scores compare with them)."""
    from hubcli.services.demo import base_model_path

    world = new_world(root)
    shutil.copytree(demo_registry.env["HUBCLI_HOME"], world.env["HUBCLI_HOME"])
    world.env["BASE"] = str(base_model_path())
    world.env["D"] = str(Path(demo_registry.env["HUBCLI_HOME"]) / "demo" / "sentiment.csv")
    return world


WORLDS: dict[str, Callable[..., World]] = {
    "README.md": readme,
    "docs/demo.md": demo,
    "docs/compare.md": compare,
    "docs/compositions.md": compositions,
    "docs/export.md": export,
    "docs/hub.md": hub_page,
    "docs/plugins.md": bitfit,
    "docs/eval.md": on_demo,
    "docs/examples/hubcli-bitfit/README.md": bitfit,
    "docs/examples/hubcli-phi/README.md": phi,
    "docs/examples/hubcli-sum/README.md": sum_block,
    "docs/train.md": on_demo,
}
"""Each page's world builder: it takes the world's root folder and, by parameter name, the
fixtures it needs (``hub``: the test Hub; ``demo_registry``: the world docs/demo.md left)."""


def fixtures_of(doc: str) -> list[str]:
    import inspect

    return list(inspect.signature(WORLDS[doc]).parameters)[1:]
