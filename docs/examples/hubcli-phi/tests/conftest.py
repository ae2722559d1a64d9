"""hubcli's plugin kit gives the fixtures: register_plugin, temp_registry, run_hubcli."""

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ["HUBCLI_STRICT_PLUGINS"] = "1"  # a broken plugin fails the tests instead of warning

pytest_plugins = ["hubcli.testing"]
