"""The built-in composition blocks, registered as ``hubcli.compositions`` entry points exactly as
a third-party block would be: stack, split, batch_split, parallel, average, fuse."""
