"""Training new adapters (``hubcli train``): ``blueprints`` makes an untrained adapter in its
architecture's own files, ``parameters`` finds its tensors among the engine's modules, ``loop``
optimises them, ``splits`` holds out the evaluation rows and ``fusion`` trains a fusion's own
weights; the use case ``hubcli.services.training`` ties them together and registers the result.
torch is imported by the modules, so the CLI imports this package inside its command only.
"""
