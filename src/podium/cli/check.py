"""``podium check``: the loader ``podium serve`` uses, run alone; every problem printed with its path."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

from podium.config import DEFAULT_CONFIG_PATH, Config, default_config, load_config, validate_config
from podium.errors import ConfigError


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser], name: str, help_text: str) -> None:
    p = sub.add_parser(name, help=help_text, description=help_text)
    p.add_argument(
        "--config",
        "-c",
        metavar="PATH",
        help=f"the file to check (default: ./{DEFAULT_CONFIG_PATH}; without it, the embedded default)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        if args.config is None and not DEFAULT_CONFIG_PATH.exists():
            print(f"no ./{DEFAULT_CONFIG_PATH}: checking the embedded default configuration")
            # The Ollama probe is left to serve: a check should not depend on what answers right now.
            config = validate_config(asyncio.run(default_config(os.environ, probe_ollama=False)))
        else:
            config = load_config(Path(args.config or DEFAULT_CONFIG_PATH), environ=os.environ)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 1
    flows = _check_flows(config)  # the flow files serve loads (workflows.flows); None: problems printed
    if flows is None:
        return 1
    print(f"ok: {_summary(config)}")
    if flows:
        print(f"flows: {', '.join(flows)}")
    return 0


def _check_flows(config: Config) -> list[str] | None:
    """The flows of ``workflows.flows`` by name, checked as ``podium serve`` checks them."""
    if not config.workflows.flows:
        return []
    from podium.workflows import check_flows

    flows, problems = check_flows(config.workflows.flows, policies=set(config.guardrails.policies))
    for problem in problems:
        print(f"workflows.flows: {problem}", file=sys.stderr)
    return None if problems else sorted(flows)


def _summary(config: Config) -> str:
    counts = (
        (len(config.providers), "provider"),
        (len(config.deployments), "deployment"),
        (len(config.routes), "route"),
    )
    return ", ".join(f"{n} {word}{'' if n == 1 else 's'}" for n, word in counts)
