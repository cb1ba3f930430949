"""Turns one run's records into the side-by-side tables, the verdict against the targets, and JSON.

A run is a plain dict (``meta``, ``chat``, ``stream``, ``podium``) so that the JSON file is the
records as measured; :func:`summary` derives the headline figures from them, and the tables show
both, direct and Podium next to each other.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

Record = dict[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class Target:
    """A figure from the performance issue: Podium with auth and accounting on must meet it."""

    op: Literal["<=", ">="]
    value: float

    def met(self, measured: float | None) -> bool | None:
        if measured is None:
            return None
        return measured <= self.value if self.op == "<=" else measured >= self.value

    def __str__(self) -> str:
        return f"{'≤' if self.op == '<=' else '≥'} {self.value:g}"


TARGETS: dict[str, Target] = {
    "gw_cpu_ms_per_req": Target(op="<=", value=0.6),
    "max_rps_one_core": Target(op=">=", value=1500),
    "added_p50_ms_c1": Target(op="<=", value=1.0),
    "stream_first_added_p50_ms": Target(op="<=", value=1.0),
    "rss_idle_mb": Target(op="<=", value=80),
    "ready_s": Target(op="<=", value=1.5),
}


def _find(records: list[Record], **where: Any) -> Record | None:
    return next((r for r in records if all(r.get(k) == v for k, v in where.items())), None)


def _diff(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


def summary(run: Record) -> list[Record]:
    """The headline figures: one row each, with direct, Podium, the difference or ratio, and the target."""
    chat, stream, podium = run["chat"], run["stream"], run.get("podium", {})
    rows: list[Record] = []

    def row(
        key: str, label: str, unit: str, direct: float | None, value: float | None, delta: float | None = None
    ) -> None:
        target = TARGETS.get(key)
        # "Added" figures are judged on the difference to direct, the others on Podium's own value.
        judged = delta if key.startswith(("added", "stream_first_added")) else value
        text = (
            None if target is None else str(target).replace("≤ ", "≤ +") if judged is delta else str(target)
        )
        rows.append(
            {
                "key": key,
                "figure": label,
                "unit": unit,
                "direct": direct,
                "podium": value,
                "delta": delta,
                "target": text,
                "met": target.met(judged) if target else None,
            }
        )

    pod_chat = [r for r in chat if r["target"] == "podium" and r["requests"] > 0]
    cpu_s = sum(r["gw_cpu_s"] for r in pod_chat)
    reqs = sum(r["requests"] for r in pod_chat)
    row(
        "gw_cpu_ms_per_req",
        "gateway CPU per request, non-streaming",
        "ms",
        None,
        cpu_s * 1000 / reqs if reqs else None,
    )
    up = [
        r["upstream_cpu_us_per_req"]
        for r in chat
        if r["target"] == "direct" and r.get("upstream_cpu_us_per_req")
    ]
    if up:
        row("upstream_cpu_ms_per_req", "  upstream CPU per request (for scale)", "ms", max(up) / 1000, None)

    def best(target: str) -> float | None:
        rps = [r["rps"] for r in chat if r["target"] == target and r["delay"] == 0 and r["requests"] > 0]
        return max(rps) if rps else None

    d_best, p_best = best("direct"), best("podium")
    ratio = p_best / d_best if p_best and d_best else None
    row("max_rps_one_core", "max RPS, gateway pinned to one core", "rps", d_best, p_best, ratio)

    for delay in sorted({r["delay"] for r in chat}):
        d, p = _find(chat, target="direct", delay=delay, c=1), _find(chat, target="podium", delay=delay, c=1)
        if d and p:
            key = "added_p50_ms_c1" if delay == 0 else f"added_p50_ms_c1_d{delay}"
            label = f"p50 latency at c=1, upstream delay {delay} ms"
            row(key, label, "ms", d["p50_ms"], p["p50_ms"], p["p50_ms"] - d["p50_ms"])

    stream_cs = sorted({r["c"] for r in stream})
    for c in stream_cs:
        d, p = _find(stream, target="direct", c=c), _find(stream, target="podium", c=c)
        if d and p and d["requests"] and p["requests"]:
            key = "stream_first_added_p50_ms" if c == stream_cs[0] else f"stream_first_added_p50_ms_c{c}"
            label = f"stream: first event p50, c={c}"
            row(key, label, "ms", d["first_p50_ms"], p["first_p50_ms"], p["first_p50_ms"] - d["first_p50_ms"])
            label = f"stream: [DONE] p50, c={c}"
            row(
                f"stream_done_p50_ms_c{c}",
                label,
                "ms",
                d["done_p50_ms"],
                p["done_p50_ms"],
                p["done_p50_ms"] - d["done_p50_ms"],
            )

    row("rss_idle_mb", "gateway RSS idle, after start", "MB", None, podium.get("rss_idle_mb"))
    row("rss_after_mb", "gateway RSS after load", "MB", None, podium.get("rss_after_mb"))
    row("ready_s", "start to ready (spawn → first 200 on a chat POST)", "s", None, podium.get("ready_s"))
    if podium.get("self_overhead_p50_ms") is not None:
        row(
            "self_overhead_p50_ms",
            "Podium's own x-podium-overhead-ms, p50, c=1",
            "ms",
            None,
            podium["self_overhead_p50_ms"],
        )
    return rows


def _fmt(v: float | None, unit: str = "") -> str:
    if v is None:
        return "-"
    if unit == "rps" or abs(v) >= 1000:
        return f"{v:,.0f}"
    if abs(v) >= 100:
        return f"{v:.1f}"
    return f"{v:.2f}" if unit != "us" else f"{v:.0f}"


def _signed(v: float | None) -> str:
    return "-" if v is None else f"{v:+.2f}"


def _table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]

    def line(cells: list[str]) -> str:
        return "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(r) for r in rows)])


def render(run: Record) -> str:
    meta = run["meta"]
    out = [
        f"Podium overhead — {meta['stamp']}; {meta['cpu']}; python {meta['python']}; load generator {meta['loadgen']}",
        f"gateway on CPU {meta['gw_cpu']}, load generator + upstream on CPU {meta['load_cpu']}; "
        f"{meta['duration_s']:g} s per point; machine {meta['busy_before_pct']:.0f}% busy before the run "
        f"(other people's load); auth on ({run.get('podium', {}).get('key_kind', '?')} key), accounting on",
        "",
        "Non-streaming chat (direct = load generator straight to the fake upstream; +p50/+p99 = Podium minus direct)",
    ]
    rows = []
    for d in run["chat"]:
        if d["target"] != "direct":
            continue
        p = _find(run["chat"], target="podium", delay=d["delay"], c=d["c"])
        if p is None:
            continue
        ratio = p["rps"] / d["rps"] if d["rps"] else None
        rows.append(
            [
                f"{d['delay']} ms",
                str(d["c"]),
                _fmt(d["rps"], "rps"),
                _fmt(p["rps"], "rps"),
                "-" if ratio is None else f"{ratio:.2f}x",
                _fmt(d["p50_ms"]),
                _fmt(p["p50_ms"]),
                _signed(p["p50_ms"] - d["p50_ms"]),
                _fmt(d["p99_ms"]),
                _fmt(p["p99_ms"]),
                _signed(p["p99_ms"] - d["p99_ms"]),
                _fmt(p["gw_cpu_us_per_req"], "us"),
                f"{p['gw_core_busy_pct']:.0f}",
                f"{p['gw_core_foreign_pct']:.0f}",
                str(p["non_2xx"] + p["errors"] + d["non_2xx"] + d["errors"]),
            ]
        )
    out.append(
        _table(
            [
                "delay",
                "c",
                "rps direct",
                "rps podium",
                "ratio",
                "p50 direct",
                "p50 podium",
                "+p50",
                "p99 direct",
                "p99 podium",
                "+p99",
                "gw CPU µs/req",
                "gw core %",
                "foreign %",
                "errors",
            ],
            rows,
        )
    )
    if run["stream"]:
        out += [
            "",
            f"Streaming chat ({meta.get('stream_model')}: {meta.get('chunk_delay_ms')} ms between SSE events; ms from the request's write)",
        ]
        rows = []
        for d in run["stream"]:
            if d["target"] != "direct":
                continue
            p = _find(run["stream"], target="podium", c=d["c"])
            if p is None:
                continue
            rows.append(
                [
                    str(d["c"]),
                    _fmt(d["first_p50_ms"]),
                    _fmt(p["first_p50_ms"]),
                    _signed(p["first_p50_ms"] - d["first_p50_ms"]),
                    _fmt(d["first_p99_ms"]),
                    _fmt(p["first_p99_ms"]),
                    _signed(p["first_p99_ms"] - d["first_p99_ms"]),
                    _fmt(d["done_p50_ms"]),
                    _fmt(p["done_p50_ms"]),
                    _signed(p["done_p50_ms"] - d["done_p50_ms"]),
                    f"{d['requests']}/{p['requests']}",
                    _fmt(p.get("gw_cpu_us_per_req"), "us"),
                    str(d["errors"] + p["errors"]),
                ]
            )
        out.append(
            _table(
                [
                    "c",
                    "first p50 direct",
                    "podium",
                    "+",
                    "first p99 direct",
                    "podium",
                    "+",
                    "[DONE] p50 direct",
                    "podium",
                    "+",
                    "streams d/p",
                    "gw CPU µs/stream",
                    "errors",
                ],
                rows,
            )
        )
    out += ["", "Summary against the targets (Podium with auth and accounting on)"]
    rows = []
    for s in summary(run):
        if s["key"] == "max_rps_one_core":
            delta = "-" if s["delta"] is None else f"{s['delta']:.2f}x"
        elif s["direct"] is not None and s["podium"] is not None:
            delta = _signed(s["delta"])
        else:
            delta = "-"
        verdict = {True: "yes", False: "NO", None: ""}[s["met"]]
        rows.append(
            [
                s["figure"],
                s["unit"],
                _fmt(s["direct"], s["unit"]),
                _fmt(s["podium"], s["unit"]),
                delta,
                s["target"] or "",
                verdict,
            ]
        )
    out.append(_table(["figure", "unit", "direct", "podium", "added/ratio", "target", "met"], rows))
    podium = run.get("podium", {})
    if podium.get("idle_cpu_ms_per_s") is not None:
        out.append(f"gateway CPU while idle: {podium['idle_cpu_ms_per_s']:.1f} ms/s (background tasks)")
    return "\n".join(out)


def write_json(run: Record, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({**run, "summary": summary(run)}, indent=2) + "\n")
