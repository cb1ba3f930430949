"""The difference between two JSON values as RFC 6902 (JSON Patch) operations.

A reviewer's "modify" decision is audited with what they changed, not with two whole documents:
``[{"op": "replace", "path": "/risk", "value": "low"}]``. Applying the operations to the first value
gives the second. Objects are compared key by key; lists element by element with the tail added or
removed (no move detection: a shifted list shows as replacements, which is exact, if not minimal).
"""

from __future__ import annotations

from typing import Any

__all__ = ["json_diff"]


def json_diff(before: Any, after: Any, path: str = "") -> list[dict[str, Any]]:
    """The operations that turn ``before`` into ``after``; ``[]`` when they are equal."""
    if isinstance(before, dict) and isinstance(after, dict):
        ops: list[dict[str, Any]] = [
            {"op": "remove", "path": f"{path}/{_escape(key)}"} for key in before if key not in after
        ]
        for key, value in after.items():
            where = f"{path}/{_escape(key)}"
            if key not in before:
                ops.append({"op": "add", "path": where, "value": value})
            else:
                ops.extend(json_diff(before[key], value, where))
        return ops
    if isinstance(before, list) and isinstance(after, list):
        ops = []
        for i, (old, new) in enumerate(zip(before, after, strict=False)):
            ops.extend(json_diff(old, new, f"{path}/{i}"))
        for i in range(len(before) - 1, len(after) - 1, -1):  # from the end, so indexes stay valid
            ops.append({"op": "remove", "path": f"{path}/{i}"})
        for i in range(len(before), len(after)):
            ops.append({"op": "add", "path": f"{path}/{i}", "value": after[i]})
        return ops
    if _same(before, after):
        return []
    return [{"op": "replace", "path": path, "value": after}]


def _same(a: Any, b: Any) -> bool:
    # JSON has no booleans-as-numbers: True == 1 in Python, but a change from 1 to true is a change.
    return type(a) is type(b) and a == b if isinstance(a, bool) or isinstance(b, bool) else a == b


def _escape(key: str) -> str:
    return str(key).replace("~", "~0").replace("/", "~1")
