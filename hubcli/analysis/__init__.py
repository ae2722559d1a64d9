"""Comparing adapters: weight-space distances between task vectors (ΔW) and representation
similarity (linear CKA) between models, with plots.

Everything here imports torch; the CLI imports it only inside ``hubcli compare`` / ``similar``.
"""
