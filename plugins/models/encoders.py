"""BERT-style encoders: BERT, RoBERTa / XLM-R (same module tree), DistilBERT.

Post-LN: the residual add happens inside the LayerNorm call of ``attention.output`` and
``output`` (BERT) or ``sa_layer_norm`` / ``output_layer_norm`` (DistilBERT).
"""

from __future__ import annotations

from hubcli.plugin_api import InsertionPoints, ModelFamilyPlugin

BERT_POINTS = InsertionPoints(
    layers="encoder.layer",
    word_embeddings="embeddings.word_embeddings",
    q="attention.self.query",
    k="attention.self.key",
    v="attention.self.value",
    o="attention.output.dense",
    ffn_in=("intermediate.dense",),
    ffn_out="output.dense",
    attention="attention.self",
    attention_output_norm="attention.output.LayerNorm",
    ffn_output_norm="output.LayerNorm",
)


class BertFamily(ModelFamilyPlugin):
    name = "bert"
    api_version = 2
    description = "BERT encoders (BertModel and its task heads)"
    model_types = ("bert",)
    points = BERT_POINTS


class RobertaFamily(ModelFamilyPlugin):
    name = "roberta"
    api_version = 2
    description = "RoBERTa and XLM-RoBERTa encoders (BERT's module tree, other embeddings)"
    model_types = ("roberta", "xlm-roberta")
    points = BERT_POINTS


class DistilBertFamily(ModelFamilyPlugin):
    name = "distilbert"
    api_version = 2
    description = "DistilBERT encoders (q_lin/k_lin/v_lin/out_lin, ffn.lin1/lin2)"
    model_types = ("distilbert",)
    points = InsertionPoints(
        layers="transformer.layer",
        word_embeddings="embeddings.word_embeddings",
        q="attention.q_lin",
        k="attention.k_lin",
        v="attention.v_lin",
        o="attention.out_lin",
        ffn_in=("ffn.lin1",),
        ffn_out="ffn.lin2",
        attention="attention",
        attention_output_norm="sa_layer_norm",
        ffn_output_norm="output_layer_norm",
        heads=("pre_classifier", "classifier"),
    )
