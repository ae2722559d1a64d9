"""The README.md model card that ``hubcli push`` writes, built from registry metadata only.

The YAML front matter is what the Hub indexes (library, base model, tags, evaluation results as
``model-index``), so it is written with huggingface_hub's own ``ModelCardData`` to stay valid.
The card depends on nothing but the adapter's metadata and stored evaluations (no dates), so
pushing unchanged content yields a byte-identical card and no new commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import PurePath

from hubcli.formatting import architecture_label
from registry import Adapter, Evaluation

LIBRARY_NAMES = {"peft": "peft", "adapterhub": "adapter-transformers"}


def hub_base_model(adapter: Adapter) -> str | None:
    """The adapter's base model if it is a Hub model id; None for a local folder (``./tiny-bert``,
    an absolute path), which the Hub's ``base_model`` metadata and links cannot name."""
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    if not adapter.base_model:
        return None
    try:
        validate_repo_id(adapter.base_model)
    except HFValidationError:
        return None
    return adapter.base_model


def card_tags(adapter: Adapter, registry_tags: Sequence[str], fmt: str) -> list[str]:
    """Hub tags: ``adapters``, hubcli, the library, the method, the base model, the user's tags."""
    tags = ["adapters", "hubcli", LIBRARY_NAMES[fmt], adapter.architecture]
    if adapter.variant:
        tags.append(adapter.variant)
    if base := hub_base_model(adapter):
        tags.append(f"base_model:adapter:{base}")
    tags.extend(registry_tags)
    return list(dict.fromkeys(tags))


def _usage(adapter: Adapter, repo_id: str, fmt: str) -> str:
    base = hub_base_model(adapter) or "BASE_MODEL_ID"  # a local folder is no id for others
    if fmt == "peft":
        native = (
            "```python\nfrom transformers import AutoModel\nfrom peft import PeftModel\n\n"
            f'base = AutoModel.from_pretrained("{base}")\n'
            f'model = PeftModel.from_pretrained(base, "{repo_id}")\n```'
        )
    else:
        native = (
            "```python\nfrom adapters import AutoAdapterModel\n\n"
            f'model = AutoAdapterModel.from_pretrained("{base}")\n'
            f'name = model.load_adapter("{repo_id}", source="hf", set_active=True, use_safetensors=True)\n```'
        )
    return (
        "## Usage\n\nWith [hubcli](https://github.com/hubcli/hubcli):\n\n"
        f"```bash\nhubcli pull {repo_id}\nhubcli show {adapter.name}\n```\n\n"
        f"With {'PEFT' if fmt == 'peft' else 'the `adapters` library'}:\n\n{native}\n"
    )


def _results_table(evaluations: Sequence[Evaluation]) -> str:
    if not evaluations:
        return ""
    rows = "".join(
        f"| {e.dataset} | {e.split or ''} | {e.metric} | {e.value:.4f} | {e.n} |\n" for e in evaluations
    )
    return (
        "\n## Evaluation\n\nMeasured with `hubcli eval`:\n\n"
        "| dataset | split | metric | value | examples |\n|---|---|---|---|---|\n" + rows
    )


def model_card(
    adapter: Adapter,
    *,
    repo_id: str,
    fmt: str,
    registry_tags: Sequence[str] = (),
    evaluations: Sequence[Evaluation] = (),
) -> str:
    """README.md for ``adapter`` pushed to ``repo_id`` in format ``fmt`` (peft or adapterhub)."""
    from huggingface_hub import EvalResult, ModelCardData

    results = [
        EvalResult(
            task_type=e.task or adapter.task or "other",
            dataset_type=e.dataset,
            dataset_name=e.dataset,
            dataset_split=e.split,
            metric_type=e.metric,
            metric_name=e.metric,
            metric_value=e.value,
        )
        for e in evaluations
    ]
    data = ModelCardData(
        library_name=LIBRARY_NAMES[fmt],
        base_model=hub_base_model(adapter),
        license=adapter.license,
        tags=card_tags(adapter, registry_tags, fmt),
        datasets=sorted({e.dataset for e in evaluations}) or None,
        model_name=adapter.name if results else None,
        eval_results=results or None,
    )
    method = architecture_label(adapter.architecture, adapter.variant)
    facts = [f"- method: {method}", f"- trained parameters: {adapter.num_parameters:,}"]
    if base := hub_base_model(adapter):
        facts.append(f"- base model: [{base}](https://huggingface.co/{base})")
    elif adapter.base_model:
        # only the folder's own name: the path around it is private to the machine it came from
        folder = PurePath(adapter.base_model.rstrip("/\\")).name or adapter.base_model
        facts.append(f"- base model: `{folder}` (a local folder when it was registered)")
    if adapter.task:
        facts.append(f"- task: {adapter.task}")
    body = (
        f"# {adapter.name}\n\n"
        f"{adapter.description or 'An adapter'} in {fmt} format, shared with hubcli.\n\n"
        + "\n".join(facts)
        + "\n\n"
        + _usage(adapter, repo_id, fmt)
        + _results_table(evaluations)
    )
    return f"---\n{data.to_yaml()}\n---\n\n{body}"
