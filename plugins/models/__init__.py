"""Built-in model-family plugins: where adapters go in stock ``transformers`` models.

Each family only names modules (see ``hubcli.plugin_api.InsertionPoints``); no forward code is
copied, so a new transformers release that keeps its module names keeps working.
"""
