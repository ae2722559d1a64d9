"""Comparing adapters: weight-space distances between task vectors (ΔW) and representation
similarity (linear CKA) between models, with plots; and the merge-compatibility hint, which
relates the distance of two LoRAs to the measured loss from averaging them.

Everything here but ``hint_records`` (reading stored hints) imports torch; the CLI imports these
modules only inside ``hubcli compare`` / ``similar`` / ``merge-hint`` / ``merge-hints``.
"""
