"""hubcli and the Hugging Face Hub: pull, push, search and the model card.

A Python API for the CLI and the TUI alike, which reach it through ``hubcli.services``
(pulling, pushing, searching); the CLI (``hubcli.cli.hub``) only parses options and renders the
reports:

- ``hubcli.hub.pull.pull(registry, repo_id, ...) -> PullReport``
- ``hubcli.hub.push.push(registry, name, repo_id, ...) -> PushReport``
- ``hubcli.hub.search.search(query, ...) -> list[HubAdapter]``, and ``repo_files(repo_id)``

Every long call takes ``on_progress``, a callable receiving ``hubcli.progress.Progress``
(from a worker thread in the TUI). Failures are ``hubcli.hub.errors.HubError`` subclasses with a
one-line message. The endpoint is always passed to ``huggingface_hub`` explicitly (``--endpoint``,
else ``HF_ENDPOINT``); credentials are ``huggingface_hub``'s own (``hf auth login``, ``HF_TOKEN``)
and are never stored by hubcli. ``huggingface_hub`` is imported inside these modules only, never
by the fast commands.
"""
