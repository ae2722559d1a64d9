"""hubcli demo end to end on the bundled MiniLM, with training capped at two steps."""

from __future__ import annotations


def test_demo_builds_a_registry_and_is_idempotent(cli, registry) -> None:
    first = cli("demo", "--steps", "2", "--json")
    assert first.exit_code == 0, first.stderr
    report = first.json()
    assert report["done"] == ["trained demo-sentiment-lora: 2 steps", "trained demo-sentiment-bottleneck: 2 steps",
                              "scored the bare base model"]
    names = {a.name: a for a in registry.list_adapters()}
    assert set(names) == {"demo-sentiment-lora", "demo-sentiment-bottleneck"}
    assert names["demo-sentiment-lora"].architecture == "lora"
    assert names["demo-sentiment-bottleneck"].labels == ["negative", "positive"]
    for target in ("demo-sentiment-lora", "demo-sentiment-bottleneck", "-"):
        rows = registry.evaluations(target=target, dataset=report["dataset"])
        assert {r.metric for r in rows} == {"accuracy", "f1_macro", "matthews"}
        assert {(r.split, r.n) for r in rows} == {("test", 100)}
    assert [row["target"] for row in report["table"]][1:] == ["demo-sentiment-lora", "demo-sentiment-bottleneck"]

    again = cli("demo", "--steps", "2")
    assert again.exit_code == 0, again.stderr
    assert "demo-sentiment-lora is already registered" in again.stdout
    assert "the bare base model is already scored" in again.stdout
    assert len(registry.evaluations(target="-")) == 3  # nothing scored twice
