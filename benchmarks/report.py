"""Turns one run's records into side-by-side tables, a verdict against the targets, and a JSON file.

A run is a plain dict (``meta``, ``chat``, ``stream``, ``podium``), so the JSON file holds the
records as measured; :func:`summary` derives the headline figures from them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

Record = dict[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class Target:
    """A figure from the performance issue that Podium, auth and accounting on, must meet."""

    op: Literal["<=", ">="]
    value: float
    added: bool = False  # judged on Podium minus direct rather than on Podium's own figure

    def met(self, measured: float | None) -> bool | None:
        if measured is None:
            return None
        return measured <= self.value if self.op == "<=" else measured >= self.value

    def __str__(self) -> str:
        return f"{'≤' if self.op == '<=' else '≥'} {'+' if self.added else ''}{self.value:g}"


TARGETS: dict[str, Target] = {
    "gw_cpu_ms_per_req": Target(op="<=", value=0.6),
    "max_rps_one_core": Target(op=">=", value=1500),
    "added_p50_ms_c1": Target(op="<=", value=1.0, added=True),
    "stream_first_added_p50_ms": Target(op="<=", value=1.0, added=True),
    "rss_idle_mb": Target(op="<=", value=80),
    "ready_s": Target(op="<=", value=1.5),
}


def _find(records: list[Record], **where: Any) -> Record | None:
    return next((r for r in records if all(r.get(k) == v for k, v in where.items())), None)


def _pairs(records: list[Record], *keys: str) -> list[tuple[Record, Record]]:
    """(direct, podium) records measured at the same point, in the order they were run."""
    out = []
    for d in records:
        if d["target"] == "direct":
            p = _find(records, target="podium", **{k: d[k] for k in keys})
            if p is not None:
                out.append((d, p))
    return out


def _per_request_ms(records: list[Record], cpu_field: str) -> float | None:
    reqs = sum(r["requests"] for r in records)
    return sum(r[cpu_field] for r in records) * 1000 / reqs if reqs else None


def summary(run: Record) -> list[Record]:
    """The headline figures, one row each: direct, Podium, added (or ratio), the target and its verdict."""
    chat, stream, podium = run["chat"], run["stream"], run.get("podium", {})
    rows: list[Record] = []

    def row(key: str, figure: str, unit: str, direct: float | None, value: float | None) -> None:
        delta = None
        if direct is not None and value is not None:
            delta = value / direct if unit == "rps" else value - direct
        target = TARGETS.get(key)
        verdict = None if target is None else target.met(delta if target.added else value)
        rows.append(
            {"key": key, "figure": figure, "unit": unit, "direct": direct, "podium": value, "delta": delta}
            | {"target": str(target) if target else None, "met": verdict}
        )

    # Weighted by requests, so the busy points (where the figure is precise) dominate; the per-point
    # figures are in the chat records.
    cpu = _per_request_ms([r for r in chat if r["target"] == "podium"], "gw_cpu_s")
    row("gw_cpu_ms_per_req", "gateway CPU per request, non-streaming", "ms", None, cpu)
    up = _per_request_ms([r for r in chat if r["target"] == "direct"], "upstream_cpu_s")
    row("upstream_cpu_ms_per_req", "  fake upstream's CPU per request, for scale", "ms", up, None)

    def best(target: str) -> float | None:
        return max((r["rps"] for r in chat if r["target"] == target and r["delay"] == 0), default=None)

    row(
        "max_rps_one_core",
        "max RPS (delay 0), gateway pinned to one core",
        "rps",
        best("direct"),
        best("podium"),
    )
    for d, p in _pairs(chat, "delay", "c"):
        if d["c"] == 1:
            key = "added_p50_ms_c1" if d["delay"] == 0 else f"added_p50_ms_c1_d{d['delay']}"
            row(key, f"p50 latency at c=1, upstream delay {d['delay']} ms", "ms", d["p50_ms"], p["p50_ms"])
    for i, (d, p) in enumerate(_pairs(stream, "c")):
        c = d["c"]
        key = "stream_first_added_p50_ms" if i == 0 else f"stream_first_added_p50_ms_c{c}"
        row(key, f"stream: first SSE event p50, c={c}", "ms", d["first_p50_ms"], p["first_p50_ms"])
        row(
            f"stream_token_p50_ms_c{c}",
            f"stream: first text event p50, c={c}",
            "ms",
            d["token_p50_ms"],
            p["token_p50_ms"],
        )
        row(
            f"stream_done_p50_ms_c{c}", f"stream: [DONE] p50, c={c}", "ms", d["done_p50_ms"], p["done_p50_ms"]
        )
    row("rss_idle_mb", "gateway RSS idle, after start", "MB", None, podium.get("rss_idle_mb"))
    row("rss_after_mb", "gateway RSS after load", "MB", None, podium.get("rss_after_mb"))
    row("ready_s", "start to ready (spawn → first 200 on a chat POST)", "s", None, podium.get("ready_s"))
    if podium.get("self_overhead_p50_ms") is not None:
        row(
            "self_overhead_ms",
            "x-podium-overhead-ms header, p50 at c=1",
            "ms",
            None,
            podium["self_overhead_p50_ms"],
        )
    return rows


def _num(v: float | None, unit: str = "") -> str:
    if v is None:
        return "-"
    if unit in ("rps", "us") or abs(v) >= 1000:
        return f"{v:,.0f}"
    return f"{v:.1f}" if abs(v) >= 100 else f"{v:.2f}"


def _added(v: float | None) -> str:
    return "-" if v is None else f"{v:+.2f}"


def _table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]

    def line(cells: list[str]) -> str:
        return "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(r) for r in rows)])


Column = tuple[str, Callable[[Record, Record], str]]


def _side_by_side(field: str, label: str, unit: str = "") -> list[Column]:
    """Three columns for one figure: direct, Podium, and Podium minus direct."""
    return [
        (f"{label} direct", lambda d, p: _num(d[field], unit)),
        ("podium", lambda d, p: _num(p[field], unit)),
        ("+", lambda d, p: _added(p[field] - d[field])),
    ]


CHAT_COLUMNS: list[Column] = [
    ("delay", lambda d, p: f"{d['delay']} ms"),
    ("c", lambda d, p: str(d["c"])),
    ("rps direct", lambda d, p: _num(d["rps"], "rps")),
    ("podium", lambda d, p: _num(p["rps"], "rps")),
    ("ratio", lambda d, p: f"{p['rps'] / d['rps']:.2f}x" if d["rps"] else "-"),
    *_side_by_side("p50_ms", "p50"),
    *_side_by_side("p99_ms", "p99"),
    ("gw CPU µs/req", lambda d, p: _num(p["gw_cpu_us_per_req"], "us")),
    ("gw core %", lambda d, p: f"{p['gw_core_busy_pct']:.0f}"),
    ("foreign %", lambda d, p: f"{p['gw_core_foreign_pct']:.0f}"),
    ("errors", lambda d, p: str(d["errors"] + d["non_2xx"] + p["errors"] + p["non_2xx"])),
]

STREAM_COLUMNS: list[Column] = [
    ("c", lambda d, p: str(d["c"])),
    *_side_by_side("first_p50_ms", "first p50"),
    *_side_by_side("first_p99_ms", "first p99"),
    *_side_by_side("token_p50_ms", "text p50"),
    *_side_by_side("done_p50_ms", "[DONE] p50"),
    ("streams d/p", lambda d, p: f"{d['requests']}/{p['requests']}"),
    ("gw CPU µs/stream", lambda d, p: _num(p["gw_cpu_us_per_req"], "us")),
    ("errors", lambda d, p: str(d["errors"] + p["errors"])),
]


def _columns_table(columns: list[Column], pairs: list[tuple[Record, Record]]) -> str:
    return _table([h for h, _ in columns], [[cell(d, p) for _, cell in columns] for d, p in pairs])


def render(run: Record) -> str:
    meta, podium = run["meta"], run.get("podium", {})
    out = [
        f"Podium overhead, {meta['stamp']}: {meta['cpu']}, python {meta['python']}, load generator {meta['loadgen']}",
        f"gateway on CPU {meta['gw_cpu']}; load generator, upstream and probes on CPU {meta['load_cpu']}; "
        f"{meta['duration_s']:g} s per point; machine {meta['busy_before_pct']:.0f}% busy before the run; "
        f"auth on ({podium.get('key_kind', '?')} key), accounting on",
        "",
        "Non-streaming chat: direct = load generator straight to the fake upstream; + = Podium minus direct (ms)",
        _columns_table(CHAT_COLUMNS, _pairs(run["chat"], "delay", "c")),
    ]
    if run["stream"]:
        out += [
            "",
            f"Streaming chat, {meta['stream_model']} ({meta['chunk_delay_ms']} ms between SSE events), "
            "ms from the request's write; text = first event with answer text",
            _columns_table(STREAM_COLUMNS, _pairs(run["stream"], "c")),
        ]
    rows = []
    for s in summary(run):
        delta = "-"
        if s["delta"] is not None:
            delta = f"{s['delta']:.2f}x" if s["unit"] == "rps" else _added(s["delta"])
        verdict = {True: "yes", False: "NO", None: ""}[s["met"]]
        rows.append(
            [s["figure"], s["unit"], _num(s["direct"], s["unit"]), _num(s["podium"], s["unit"]), delta]
        )
        rows[-1] += [s["target"] or "", verdict]
    out += ["", "Summary against the targets (Podium with auth and accounting on)"]
    out.append(_table(["figure", "unit", "direct", "podium", "added/ratio", "target", "met"], rows))
    if meta["loadgen"] != "wrk":
        out.append(
            "note: the Python load generator costs more than the gateway per request; it caps both RPS columns"
        )
    if podium.get("idle_cpu_ms_per_s") is not None:
        out.append(
            f"gateway CPU while idle: {podium['idle_cpu_ms_per_s']:.1f} ms per second (background tasks)"
        )
    return "\n".join(out)


def write_json(run: Record, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({**run, "summary": summary(run)}, indent=2) + "\n")
