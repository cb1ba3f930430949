"""``podium schema``: the JSON Schema of ``podium.yaml``, for editors (``# yaml-language-server: $schema=``)."""

from __future__ import annotations

import argparse
import json

from podium.config import config_schema


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser], name: str, help_text: str) -> None:
    p = sub.add_parser(name, help=help_text, description=help_text)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    print(json.dumps(config_schema(), indent=2, ensure_ascii=False))
    return 0
