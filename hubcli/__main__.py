"""``python -m hubcli`` is the ``hubcli`` command."""

from hubcli.cli import main

main()
