"""Measuring a stitched model on a dataset: ``hubcli eval`` and the training loop's periodic
evaluation share this package.

``data`` reads rows (CSV, JSONL, Parquet, a Hugging Face dataset id) and fingerprints them;
``tasks`` turns rows into model inputs and model outputs into predictions; ``metrics`` scores
predictions with scikit-learn / scipy (and our own entity-level F1); ``runner`` drives the
batches; ``targets`` stitches what a TARGET names. Only ``data`` and ``metrics`` are free of
torch; the CLI imports this package inside its commands.
"""
