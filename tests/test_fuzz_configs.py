"""Hypothesis fuzzing of config parsing: whatever JSON lands in adapter_config.json, detection
either recognises it, declines it, or raises a one-line hubcli error — never anything else."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hubcli import discovery
from hubcli.plugin_api import AdapterFolder, HubcliError

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**40), 2**40)
    | st.floats(allow_nan=False)
    | st.text(max_size=12)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
PEFT_KEYS = [
    "peft_type",
    "r",
    "lora_alpha",
    "target_modules",
    "rank_pattern",
    "alpha_pattern",
    "use_rslora",
    "use_dora",
    "fan_in_fan_out",
    "modules_to_save",
    "bias",
    "task_type",
    "base_model_name_or_path",
    "num_virtual_tokens",
    "token_dim",
    "num_layers",
    "feedforward_modules",
    "prefix_projection",
]
ADAPTERHUB_KEYS = [
    "architecture",
    "r",
    "alpha",
    "composition_mode",
    "reduction_factor",
    "non_linearity",
    "mh_adapter",
    "output_adapter",
    "original_ln_before",
    "is_parallel",
    "prefix_length",
    "selfattn_lora",
    "intermediate_lora",
    "attn_matrices",
    "scaling",
    "leave_out",
    "flat",
]
peft_configs = st.fixed_dictionaries(
    {"peft_type": st.sampled_from(["LORA", "IA3", "PREFIX_TUNING", "PROMPT_TUNING", "lora", "VERA"])},
    optional={key: json_values for key in PEFT_KEYS[1:]},
)
adapterhub_configs = st.fixed_dictionaries(
    {
        "config": st.fixed_dictionaries({}, optional={key: json_values for key in ADAPTERHUB_KEYS})
        | json_values,
        "name": json_values,
        "model_type": json_values,
        "version": st.just("adapters.1.3.0"),
    },
    optional={"model_name": json_values, "hidden_size": json_values, "model_class": json_values},
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    config=peft_configs | adapterhub_configs | st.dictionaries(st.text(max_size=10), json_values, max_size=5)
)
@pytest.mark.slow
def test_detection_never_crashes(config: dict) -> None:
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "adapter_config.json").write_text(json.dumps(config))
        adapter_folder = AdapterFolder(Path(folder))
        for plugin in discovery.architectures().values():
            try:
                found = plugin.detect(adapter_folder)
            except HubcliError as error:
                assert "\n" not in error.message and error.message
            else:
                assert found is None or found.architecture == plugin.name
