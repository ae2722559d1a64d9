"""Compositions: the spec (tree, JSON and text forms), its validation against the composition
and architecture plugins, and the tree-aware setup that routes hidden states through a stitched
model. The spec modules import nothing heavy; torch comes in only with ``hubcli.compose.setup``.
"""
