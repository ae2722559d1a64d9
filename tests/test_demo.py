"""hubcli demo end to end on the bundled MiniLM, with training capped at two steps."""

from __future__ import annotations

import pytest

ADAPTERS = ("demo-sentiment-lora", "demo-sentiment-bottleneck", "demo-sentiment-lora-r4")


@pytest.mark.slow
def test_demo_builds_a_registry_and_is_idempotent(cli, registry) -> None:
    first = cli("demo", "--steps", "2", "--json")
    assert first.exit_code == 0, first.stderr
    report = first.json()
    assert report["done"] == [
        *(f"trained {name}: 2 steps" for name in ADAPTERS),
        "merged demo-sentiment-lora + demo-sentiment-lora-r4 into demo-sentiment-merged",
        "saved recipe demo-sentiment-average = average(demo-sentiment-lora, demo-sentiment-lora-r4)",
        "scored the bare base model",
        "scored demo-sentiment-merged",
        "scored demo-sentiment-average",
    ]
    names = {a.name: a for a in registry.list_adapters()}
    assert set(names) == {*ADAPTERS, "demo-sentiment-merged"}
    assert names["demo-sentiment-lora"].architecture == "lora"
    assert names["demo-sentiment-bottleneck"].labels == ["negative", "positive"]
    assert "merged" in registry.tags(names["demo-sentiment-merged"])
    assert [r.name for r in registry.compositions()] == ["demo-sentiment-average"]
    for target in (*ADAPTERS, "demo-sentiment-merged", "demo-sentiment-average", "-"):
        rows = registry.evaluations(target=target, dataset=report["dataset"])
        assert {r.metric for r in rows} == {"accuracy", "f1_macro", "matthews"}, target
        assert {(r.split, r.n) for r in rows} == {("test", 100)}
    assert [row["target"] for row in report["table"]][1:] == [
        *ADAPTERS,
        "demo-sentiment-merged",
        "demo-sentiment-average",
    ]

    again = cli("demo", "--steps", "2")
    assert again.exit_code == 0, again.stderr
    assert "demo-sentiment-lora is already registered" in again.stdout
    assert "the bare base model is already scored" in again.stdout
    assert "recipe demo-sentiment-average is already saved" in again.stdout
    assert len(registry.evaluations(target="-")) == 3  # nothing scored twice
