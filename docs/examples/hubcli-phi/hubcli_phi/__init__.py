"""Phi (``model_type`` "phi": phi-1, phi-1.5, phi-2) as a hubcli model family.

A family plugin only names modules: hubcli's engine wraps the modules named here and every
architecture (LoRA, IA³, bottleneck …) works on them without knowing Phi. What is particular to
Phi: attention and MLP run in parallel on the output of one ``input_layernorm`` (pre-LN, the
residual add inside the layer's forward), the attention output projection is called ``dense``,
the MLP is ``fc1`` → ``fc2`` without a gate, and every projection has a bias.
"""

from __future__ import annotations

from hubcli.plugin_api import InsertionPoints, ModelFamilyPlugin

__all__ = ["PhiFamily"]


class PhiFamily(ModelFamilyPlugin):
    name = "phi"
    description = "Microsoft Phi 1 / 1.5 / 2 (parallel attention and MLP, biased projections)"
    api_version = 2
    model_types = ("phi",)
    layer_norm = "pre"
    sequence_pooling = "last"
    points = InsertionPoints(
        layers="layers",
        word_embeddings="embed_tokens",
        q="self_attn.q_proj",
        k="self_attn.k_proj",
        v="self_attn.v_proj",
        o="self_attn.dense",
        ffn_in=("mlp.fc1",),
        ffn_out="mlp.fc2",
        attention="self_attn",
        attention_output_norm=None,
        ffn_output_norm=None,
        heads=("score",),
    )
