"""A plugin that fails the way real ones do: an exception while its module is imported (here
on purpose; in the wild, a missing dependency or an incompatible hubcli).

hubcli must report it as broken (a warning on stderr, a "broken" row in ``hubcli plugins``) and
keep every unrelated command working. Do not install it into an environment you use: hubcli's
test suite puts it on ``PYTHONPATH`` with a hand-written ``.dist-info`` in a subprocess only.
"""

raise ImportError("hubcli-broken-plugin fails on import, on purpose (this tests hubcli's plugin isolation)")
