"""Typed, validated stack configuration: the only place that reads Pulumi config."""

from stack_config.loader import ConfigError, RawConfig, load, read_runtime_config, read_stack_file
from stack_config.schema import PROJECT, StackConfig


def load_stack_config() -> StackConfig:
    """The running stack's configuration, validated; raises `ConfigError` listing every problem."""
    return load(read_runtime_config())


__all__ = ["PROJECT", "ConfigError", "RawConfig", "StackConfig", "load", "load_stack_config",
           "read_runtime_config", "read_stack_file"]
