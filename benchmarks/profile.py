"""Where the gateway's time goes, from a py-spy ``--format raw`` file (collapsed stacks).

    python -m benchmarks.profile benchmarks/results/<stamp>-profile.txt

``make bench BENCH_ARGS=--profile`` writes that file and prints this summary. Self time is grouped
by the file of the innermost Python frame; time spent in C (msgspec, uvloop's I/O, the hashing)
is charged to the Python frame that called it, which is why ``asyncio/runners.py`` stands for the
event loop's own work. py-spy shows coroutines resumed by the loop as roots of their own stacks,
so inclusive figures are counted per function over all stacks it appears in.
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path

_FILE = re.compile(r"\(([^:)]+)")
_ENTRY = ("podium/cli/", "podium/__main__")


def _file(frame: str) -> str:
    m = _FILE.search(frame)
    return m.group(1) if m else frame or "?"


def _group(stack: list[str]) -> str:
    if any(f.startswith(("Thread.", "_worker ")) for f in stack):
        return "other threads (SQLite writer, executor)"
    leaf = _file(stack[-1])
    if leaf.startswith("podium/"):
        return leaf
    if leaf.startswith(("aiohttp/client", "aiohttp/connector")):
        return "aiohttp client (the upstream call)"
    if leaf.startswith("aiohttp/"):
        return "aiohttp server, streams and HTTP writer"
    if leaf.startswith(("asyncio/", "uvloop/")):
        return "event loop (uvloop, in C) and asyncio"
    return "other: " + leaf


def summarize(path: Path, top: int = 15) -> str:
    by_group: Counter[str] = Counter()
    by_leaf: Counter[str] = Counter()
    podium_inclusive: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack_text, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n, stack = int(count), stack_text.split(";")
        total += n
        by_group[_group(stack)] += n
        by_leaf[stack[-1]] += n
        # The request path only: the CLI frames under which the whole event loop runs say nothing.
        for name in {f.split(" (")[0] for f in stack if "podium/" in f and not _file(f).startswith(_ENTRY)}:
            podium_inclusive[name] += n
    if not total:
        return f"{path}: no samples"

    def lines(counter: Counter[str]) -> list[str]:
        return [f"  {100 * n / total:5.1f}%  {name}" for name, n in counter.most_common(top)]

    return "\n".join(
        [
            f"py-spy: {total} samples of the gateway ({path})",
            "self time by file of the innermost Python frame:",
            *lines(by_group),
            "self time, top functions:",
            *lines(by_leaf),
            "Podium functions, inclusive:",
            *lines(podium_inclusive),
        ]
    )


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    print(summarize(Path(args[0])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
