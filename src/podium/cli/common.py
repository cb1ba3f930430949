"""What several commands share: finding the configuration, the data directory and the storage."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from podium.config.model import Config
from podium.errors import ConfigError
from podium.storage.base import Storage

__all__ = ["add_config_args", "data_dir", "load", "open_store", "print_config_error", "storage_url"]

DEFAULT_CONFIG = "podium.yaml"


def add_config_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        metavar="PATH",
        help=f"configuration file (default: ./{DEFAULT_CONFIG} if it exists, else the embedded default)",
    )
    parser.add_argument(
        "--data-dir",
        metavar="DIR",
        help="where the embedded SQLite store lives (default: $PODIUM_DATA_DIR or ./.podium)",
    )


def config_path(args: argparse.Namespace) -> Path | None:
    if args.config:
        return Path(args.config)
    default = Path(DEFAULT_CONFIG)
    return default if default.exists() else None


async def load(args: argparse.Namespace, *, probe_ollama: bool = False) -> tuple[Config, Path | None]:
    """The configuration the command works with, and the file it came from (None: embedded default)."""
    from podium.config import default_config, load_config

    path = config_path(args)
    if path is None:
        return await default_config(os.environ, probe_ollama=probe_ollama), None
    return load_config(path, environ=os.environ), path


def data_dir(args: argparse.Namespace) -> Path:
    return Path(args.data_dir or os.environ.get("PODIUM_DATA_DIR") or ".podium")


def storage_url(config: Config, args: argparse.Namespace) -> str:
    if config.storage.url:
        return config.storage.url
    directory = data_dir(args)
    directory.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{(directory / 'podium.db').resolve()}"


async def open_store(config: Config, args: argparse.Namespace, *, migrate: bool = True) -> Storage:
    from podium.storage import open_storage

    storage = await open_storage(storage_url(config, args))
    if migrate:
        await storage.migrate()
    return storage


def print_config_error(error: ConfigError) -> None:
    print("podium: the configuration has problems:", file=sys.stderr)
    for problem in error.problems:
        print(f"  {problem}", file=sys.stderr)
