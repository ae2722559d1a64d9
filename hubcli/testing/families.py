"""``check_model_family_plugin``: a model-family plugin checked against a real ``transformers``
model of a type it claims.

A family plugin only names modules (``InsertionPoints``), so what can go wrong is a name: a
path that does not exist in the model, a projection that is not a projection, a size that
disagrees with the config. The check walks every name on every layer and builds the engine on
the model, so a family that passes can take every built-in architecture's adapters.
"""

from __future__ import annotations

from typing import Any

from hubcli.plugin_api import PLUGIN_API_VERSION, ModelFamilyPlugin

PROJECTION_POINTS = ("q", "k", "v", "o", "ffn_out", "qkv")
MODULE_POINTS = ("attention", "attention_output_norm", "ffn_output_norm")


def _expect(condition: bool, message: str) -> None:
    if not condition:
        raise AssertionError(f"model family: {message}")


def _submodule(root: Any, path: str, where: str) -> Any:
    try:
        return root.get_submodule(path)
    except AttributeError:
        raise AssertionError(f"model family: {where}: no module {path!r}") from None


def _is_projection(module: Any) -> bool:
    return type(module).__name__ in ("Linear", "Conv1D") and getattr(module, "weight", None) is not None


def check_model_family_plugin(plugin: ModelFamilyPlugin, model: Any) -> None:
    """Check ``plugin`` against ``model`` (a stock ``transformers`` model, with or without a task
    head, of one of ``plugin.model_types``); raise ``AssertionError`` naming the first problem.

    Checks: the declaration (name, ``api_version``, the model's type claimed); ``dims`` agree with
    the model (layer count, hidden size, vocabulary, heads × head size); the layer list and the
    word embeddings exist; on every layer each named projection is a Linear or Conv1D (Conv1D
    exactly when ``conv1d_projections``) and each other named module exists; the engine builds
    on the model with this plugin and finds the layers.
    """
    from hubcli.discovery import manager
    from hubcli.engine import StitchedModel

    model_type = model.config.model_type
    _expect(isinstance(plugin.name, str) and bool(plugin.name), "name must be a non-empty string")
    _expect(
        1 <= plugin.api_version <= PLUGIN_API_VERSION,
        f"api_version {plugin.api_version!r} is not in 1..{PLUGIN_API_VERSION}",
    )
    _expect(
        model_type in plugin.model_types, f"model_types {plugin.model_types} do not include {model_type!r}"
    )
    points = plugin.points
    dims = plugin.dims(model.config)
    backbone = model.base_model
    layers = _submodule(backbone, points.layers, "layers")
    _expect(
        len(layers) == dims.num_layers,
        f"{points.layers!r} has {len(layers)} layers, dims say {dims.num_layers}",
    )
    embeddings = _submodule(backbone, points.word_embeddings, "word_embeddings").weight
    _expect(
        tuple(embeddings.shape) == (dims.vocab_size, dims.hidden_size),
        f"word embeddings are {tuple(embeddings.shape)}, dims say ({dims.vocab_size}, {dims.hidden_size})",
    )
    _expect(dims.head_dim > 0, f"head_dim {dims.head_dim} is not positive")
    _expect(
        dims.num_heads % dims.num_kv_heads == 0,
        f"{dims.num_heads} heads are not a multiple of {dims.num_kv_heads} kv heads",
    )
    for index, layer in enumerate(layers):
        where = f"layer {index}"
        for point in PROJECTION_POINTS:
            path = getattr(points, point)
            if path is None:
                continue
            module = _submodule(layer, path, f"{where} {point}")
            _expect(
                _is_projection(module),
                f"{where} {point} {path!r} is a {type(module).__name__}, not a projection",
            )
            conv1d = type(module).__name__ == "Conv1D"
            _expect(
                conv1d == plugin.conv1d_projections,
                f"{where} {point} {path!r} is a {type(module).__name__} but conv1d_projections is {plugin.conv1d_projections}",
            )
        _expect(
            points.qkv is not None or None not in (points.q, points.k, points.v),
            "q, k, v need paths or a fused qkv",
        )
        for path in points.ffn_in:
            _expect(
                _is_projection(_submodule(layer, path, f"{where} ffn_in")),
                f"{where} ffn_in {path!r} is not a projection",
            )
        for point in MODULE_POINTS:
            path = getattr(points, point)
            if path is not None:
                _submodule(layer, path, f"{where} {point}")
    manager.register("model", plugin.name, plugin)
    try:
        stitched = StitchedModel(model)
        _expect(
            stitched.family is plugin, f"the engine picked family {stitched.family.name!r} for {model_type!r}"
        )
        _expect(len(stitched.layer_paths()) == dims.num_layers, "the engine does not find the layers")
    finally:
        manager.unregister("model", plugin.name)
