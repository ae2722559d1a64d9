"""The use cases: what a user can do with hubcli, once, for every front end.

One module per use case (adding, pulling, pushing, stitching, evaluating …). Each takes the
registry, a typed request (a frozen dataclass named ``…Request``) and a
``hubcli.progress.ProgressCallback``, and returns a typed result (``…Result``) or raises
hubcli's and the registry's typed errors. The CLI (``hubcli.cli``) parses arguments into a
request and renders the result; the TUI (``hubcli.tui``) runs the same call in a worker and
shows the progress in its jobs panel. Nothing here imports either front end (an import-linter
contract checks it), prints, or exits: that is what keeps the two front ends from drifting apart.
"""
