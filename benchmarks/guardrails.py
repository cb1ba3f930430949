"""Guardrail scanner latencies and the injection detector's precision/recall on its held-out splits.

    python -m benchmarks.guardrails            # about half a minute
    make bench-guardrails

Prints, each measured as CPU time of this thread (robust to other processes on the machine), the
median of many runs:

- pattern PII scanning in ms per KB of prompt (plain prose, and prose dense with personal data);
- the injection detector (rules + classifier) and the local moderation scanner in ms per KB;
- a policy with PII (pseudonymize) + injection + moderation on a typical chat request, in ms of CPU
  added to the request, through the same ``Policy.check_input`` the gateway runs;

then the injection detector's precision, recall and F1 on the held-out test splits of its labelled
data (and its false-positive rate on held-out benign dialogue), which training never saw
(:mod:`benchmarks.injection_data`). Targets from the issue: PII <= 0.3 ms/KB, injection <= 1 ms/KB,
the three-scanner policy <= 1 ms per typical request.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Callable

import msgspec

from podium.canonical import ChatRequest, Message
from podium.config.model import Config
from podium.guardrails.injection import InjectionScanner
from podium.guardrails.moderation import ModerationScanner
from podium.guardrails.pii import PiiScanner
from podium.guardrails.pii.patterns import _phone_region
from podium.guardrails.scanner import ScanContext
from podium.guardrails.step import build_policy

PROSE = (
    "Our quarterly planning meeting covered the migration of the billing service to the new cluster, "
    "the hiring plan for the support team and the roadmap for the mobile app. We agreed to ship the "
    "first milestone on 2024-05-01, with three teams and twelve work items. Please review the attached "
    "notes and send comments before Friday so that we can finalise the plan. "
)
DENSE = (
    "Customer Jane Doe (jane.doe@example.com, +44 20 7946 0958) paid with card 4111 1111 1111 1111 and "
    "asked for a refund to IBAN DE89 3704 0044 0532 0130 00. Her SSN is 123-45-6789; she was born on "
    "12 March 1985. The server 192.168.1.20 logged key AKIAIOSFODNN7EXAMPLE. "
)
SYSTEM = "You are a helpful assistant for ACME Corp. Answer briefly and politely; cite the knowledge base."
USER = (
    "Hi! I ordered a laptop last week (order 5521) and it arrived with a cracked screen. My email is "
    "jane.doe@example.com and my phone is +44 20 7946 0958. Could you arrange a replacement or a refund? "
    "I would prefer a replacement if one is in stock, otherwise a refund to the original card. Thanks!"
)

TARGETS = {"pii": 0.3, "injection": 1.0, "policy": 1.0}


def text_of(kb: int, base: str) -> str:
    return (base * (kb * 1024 // len(base) + 1))[: kb * 1024]


def cpu_ms(fn: Callable[[], object], *, min_runs: int = 30, budget_s: float = 1.0) -> float:
    """Median CPU milliseconds of one call, over at least ``min_runs`` calls or ``budget_s`` seconds.

    The phone-number cache is emptied before each call: every figure is for text never seen before
    (a conversation resending earlier turns costs less).
    """
    fn()  # warm-up: lazy imports, compiled patterns
    samples: list[float] = []
    started = time.perf_counter()
    while len(samples) < min_runs or time.perf_counter() - started < budget_s:
        _phone_region.cache_clear()
        t0 = time.thread_time()
        fn()
        samples.append((time.thread_time() - t0) * 1000)
        if len(samples) > 20_000:
            break
    return statistics.median(samples)


def scanners_table(sizes: list[int]) -> list[tuple[str, str, float, float | None]]:
    ctx = ScanContext(stage="input")
    pii = PiiScanner()
    injection = InjectionScanner()
    moderation = ModerationScanner()
    rows: list[tuple[str, str, float, float | None]] = []
    for kb in sizes:
        for label, base in (("prose", PROSE), ("dense PII", DENSE)):
            text = text_of(kb, base)
            rows.append(
                (
                    f"pattern PII ({label})",
                    f"{kb} KB",
                    cpu_ms(lambda t=text: pii.find(t)) / kb,
                    TARGETS["pii"],
                )
            )
        text = text_of(kb, PROSE)
        rows.append(
            (
                "injection (rules + classifier)",
                f"{kb} KB",
                cpu_ms(lambda t=text: injection.check(t, ctx)) / kb,
                TARGETS["injection"],
            )
        )
        rows.append(
            (
                "moderation (toxicity + deny-list)",
                f"{kb} KB",
                cpu_ms(lambda t=text: moderation.check(t, ctx)) / kb,
                None,
            )
        )
    return rows


def policy_ms() -> tuple[float, float]:
    """CPU ms that PII (pseudonymize) + injection + moderation add to a typical request, and to a clean one."""
    config = msgspec.convert(
        {
            "guardrails": {
                "policies": {
                    "typical": {
                        "input": [
                            {"type": "pii", "action": "pseudonymize"},
                            {"type": "injection"},
                            {"type": "moderation", "deny": ["project falcon"]},
                        ]
                    }
                }
            }
        },
        Config,
    )
    policy = build_policy(config, "typical")
    with_pii = ChatRequest(
        model="m", messages=(Message(role="system", content=SYSTEM), Message(role="user", content=USER))
    )
    clean = ChatRequest(
        model="m",
        messages=(
            Message(role="system", content=SYSTEM),
            Message(
                role="user", content="Could you summarise the attached meeting notes in three bullet points?"
            ),
        ),
    )
    loop = asyncio.new_event_loop()
    try:
        typical = cpu_ms(lambda: loop.run_until_complete(policy.check_input(with_pii, None)), min_runs=300)
        plain = cpu_ms(lambda: loop.run_until_complete(policy.check_input(clean, None)), min_runs=300)
        empty = cpu_ms(lambda: loop.run_until_complete(asyncio.sleep(0)), min_runs=300)
    finally:
        loop.close()
    return typical - empty, plain - empty  # without the cost of driving the event loop itself


def accuracy_table() -> list[tuple[str, str, str]]:
    from benchmarks.injection_data import has_parquet, held_out
    from benchmarks.train_injection import precision_recall

    detector = InjectionScanner()
    rows = []
    sets = held_out()
    for name, split in sets.items():
        scores = [detector.score(e.text)[0] for e in split]
        labels = [e.label for e in split]
        if not any(labels):
            fpr = sum(s >= detector.threshold for s in scores) / len(scores)
            rows.append((name, f"{len(split)} benign", f"false-positive rate {fpr:.3f}"))
            continue
        p, r, f1 = precision_recall(scores, labels, detector.threshold)
        rows.append(
            (name, f"{len(split)} ({sum(labels)} attacks)", f"precision {p:.3f}  recall {r:.3f}  F1 {f1:.3f}")
        )
    if not has_parquet():
        rows.append(("neuralchemy/test", "skipped", "reading it needs pyarrow: pip install -e '.[train]'"))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="1,16", help="prompt sizes in KB, comma-separated")
    parser.add_argument("--skip-accuracy", action="store_true", help="latencies only")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]

    print("Guardrail scanner CPU cost (median, this thread's CPU time)\n")
    print(f"{'scanner':40} {'prompt':>7} {'ms/KB':>8} {'target':>8}")
    for name, size, value, target in scanners_table(sizes):
        mark = "" if target is None else ("  ok" if value <= target else "  OVER")
        print(f"{name:40} {size:>7} {value:8.3f} {(f'<= {target:g}' if target else ''):>8}{mark}")
    typical, plain = policy_ms()
    print(
        f"\npolicy pii(pseudonymize) + injection + moderation, typical chat request "
        f"({len(SYSTEM) + len(USER)} chars, 2 personal data items): {typical:.3f} ms"
        f"  (target <= {TARGETS['policy']:g} ms{', ok' if typical <= TARGETS['policy'] else ', OVER'})"
    )
    print(f"the same policy on a request without personal data: {plain:.3f} ms")
    if args.skip_accuracy:
        return
    detector = InjectionScanner()
    print(
        f"\nInjection detector on held-out splits (threshold {detector.threshold:.2f}, rules + classifier)\n"
    )
    for name, size, figures in accuracy_table():
        print(f"{name:24} {size:>20}  {figures}")


if __name__ == "__main__":
    main()
