"""Podium's configuration: its shape, the loader that validates it, and the embedded default.

::

    config = load_config("podium.yaml", environ=os.environ)   # raises ConfigError listing every problem
    config = await default_config(os.environ)                  # no file: sim/*, keyed providers, Ollama
"""

from podium.config.defaults import default_config, describe
from podium.config.loader import (
    DEFAULT_CONFIG_PATH,
    config_schema,
    load_config,
    parse_config,
    validate_config,
)
from podium.config.model import (
    Capability,
    Config,
    Deployment,
    Price,
    Provider,
    ProviderType,
    Route,
    ServerSettings,
    StorageSettings,
    Timeouts,
)

__all__ = [
    "DEFAULT_CONFIG_PATH",
    "Capability",
    "Config",
    "Deployment",
    "Price",
    "Provider",
    "ProviderType",
    "Route",
    "ServerSettings",
    "StorageSettings",
    "Timeouts",
    "config_schema",
    "default_config",
    "describe",
    "load_config",
    "parse_config",
    "validate_config",
]
