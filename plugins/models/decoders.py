"""Decoder-only families: GPT-2 (fused Conv1D projections) and Llama / Mistral / Qwen2
(separate projections, grouped-query attention: ``num_key_value_heads`` < heads).

Both are pre-LN: the norm sits before each block and the residual add happens in the layer's
own forward, so an adapter on the output projection sees the block output before the add.
"""

from __future__ import annotations

from hubcli.plugin_api import InsertionPoints, ModelFamilyPlugin


class Gpt2Family(ModelFamilyPlugin):
    name = "gpt2"
    api_version = 2
    description = "GPT-2 (Conv1D projections stored [in, out]; fused c_attn = [q | k | v])"
    model_types = ("gpt2",)
    layer_norm = "pre"
    sequence_pooling = "last"
    conv1d_projections = True
    points = InsertionPoints(
        layers="h",
        word_embeddings="wte",
        q=None,
        k=None,
        v=None,
        qkv="attn.c_attn",
        o="attn.c_proj",
        ffn_in=("mlp.c_fc",),
        ffn_out="mlp.c_proj",
        attention="attn",
        attention_output_norm=None,
        ffn_output_norm=None,
        heads=("score",),
    )


class LlamaFamily(ModelFamilyPlugin):
    name = "llama"
    api_version = 2
    description = "Llama, Mistral and Qwen2 (grouped-query attention, gated FFN)"
    model_types = ("llama", "mistral", "qwen2")
    layer_norm = "pre"
    sequence_pooling = "last"
    points = InsertionPoints(
        layers="layers",
        word_embeddings="embed_tokens",
        q="self_attn.q_proj",
        k="self_attn.k_proj",
        v="self_attn.v_proj",
        o="self_attn.o_proj",
        ffn_in=("mlp.gate_proj", "mlp.up_proj"),
        ffn_out="mlp.down_proj",
        attention="self_attn",
        attention_output_norm=None,
        ffn_output_norm=None,
        heads=("score",),
    )
