"""The runner's configuration (`engine.yaml`): load, check, and the dataclasses the runner reads.

config = load_config("engine.yaml")      # or ConfigError(diagnostics), each located
"""

from engine.config.env import substitute
from engine.config.load import check_config, config_schema, load_config
from engine.config.model import (
    MAX_MAPPINGS,
    SANDBOX,
    Config,
    ConfigError,
    ConsoleConfig,
    DestinationConfig,
    MappingConfig,
    QueueConfig,
    RetryConfig,
    Source,
)

__all__ = [
    "MAX_MAPPINGS",
    "SANDBOX",
    "Config",
    "ConfigError",
    "ConsoleConfig",
    "DestinationConfig",
    "MappingConfig",
    "QueueConfig",
    "RetryConfig",
    "Source",
    "check_config",
    "config_schema",
    "load_config",
    "substitute",
]
