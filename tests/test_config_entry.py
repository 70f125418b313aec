"""`stack_config.load_stack_config()`: the running stack's config, read from what the engine hands the program and
validated into the typed config."""

from __future__ import annotations

import stack_config
from stack_config.loader import read_stack_file
from tests.harness import TEST_SECRETS, stack_file


def test_the_running_stack_s_config_is_what_the_engine_hands_the_program_validated(monkeypatch):
    raw = read_stack_file(stack_file("prod"), TEST_SECRETS)
    monkeypatch.setattr(stack_config, "read_runtime_config", lambda: raw)
    config = stack_config.load_stack_config()
    assert isinstance(config, stack_config.StackConfig)
    assert config.model.name == raw.sections["model"]["name"]
    assert config.monitoring.retention == raw.sections["monitoring"]["retention"] == "30d"
