"""The ``podium`` command. Each sub-command lives in its own module with an ``add_parser`` function."""

from __future__ import annotations

import argparse
import importlib
import sys

from podium import __version__

__all__ = ["main"]

# (module under podium.cli, one-line help) in the order ``podium --help`` lists them.
COMMANDS: tuple[tuple[str, str], ...] = (
    ("serve", "Run the gateway."),
    ("check", "Validate a configuration file and report every problem with its path."),
    ("schema", "Print the JSON Schema of podium.yaml."),
    ("keys", "Create, list and revoke API keys."),
    ("tenants", "Create, list and change tenants."),
    ("teams", "Create, list and delete teams of a tenant."),
    ("users", "Manage people: local accounts, roles, disabling."),
    ("roles", "List the built-in and custom roles and their permissions."),
    ("audit", "Verify the audit trail's hash chain, export it, sign checkpoints."),
    ("kb", "Knowledge bases: create, ingest files and folders, query, evaluate retrieval."),
    ("requests", "Show recorded requests: tokens, cost, latency, status."),
    ("prompts", "Version prompts: push/pull YAML files, render, move labels, approve moves."),
    ("route", "Calibrate the routing classifier on your examples; classify a text."),
    ("eval", "Score prompt versions or models on a dataset with the configured evaluators."),
    ("flows", "Workflows: start, list, show and cancel runs; check flow definition files."),
    ("reviews", "The human-review queue: list, claim, approve, modify or reject paused steps."),
    ("simulate", "Run the simulated OpenAI-compatible provider as a standalone server."),
    ("migrate", "Apply pending storage migrations."),
    ("version", "Print Podium's version."),
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="podium",
        description="Podium: one OpenAI-compatible endpoint in front of every model, governed and recorded.",
    )
    parser.add_argument("--version", action="version", version=f"podium {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, help_text in COMMANDS:
        module = importlib.import_module(f"podium.cli.{name}")
        module.add_parser(sub, name, help_text)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
