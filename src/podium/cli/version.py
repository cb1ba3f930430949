from __future__ import annotations

import argparse
import platform

from podium import __version__


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser], name: str, help_text: str) -> None:
    p = sub.add_parser(name, help=help_text, description=help_text)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    print(f"podium {__version__} (Python {platform.python_version()})")
    return 0
