"""``hubcli merge``: new adapters made from registry adapters by weight-space merging.

Linear, task arithmetic, TIES, DARE (linear and TIES) and SVD; for LoRA on ΔW = s·B·A (exact
by concatenation, or SVD to a stated rank), for IA³ on the deviations l − 1, for bottleneck
adapters as parameter averaging. The maths and the reasons are in docs/merge.md.
``hubcli.merge.by_kind`` imports torch; this package's ``spec`` module does not, so the CLI
can check options cheaply. ``hubcli.services.merging`` registers a merge.
"""
