"""Policies: scanners composed, run concurrently under their timeouts, findings turned into actions.

A policy runs each of its scanners over every text of a stage (the messages it reads, by role; or the
answer) and turns the result into one :class:`~podium.storage.records.GuardrailVerdict` per scanner:

- a finding under ``block`` refuses the call (:class:`~podium.errors.GuardrailBlocked`, naming the
  policy and the kinds found, never the text);
- ``redact`` replaces each finding with ``<KIND>``; ``pseudonymize`` with ``<KIND_n>``, remembered for
  this call only so the answer gets the originals back (:mod:`podium.guardrails.pseudonymize`);
- ``flag`` only records the verdict.

A scanner that raises or outlives its ``timeout_ms`` is *fail-open* (its verdict records the error and
the call goes on) or *fail-closed* (:class:`~podium.errors.GuardrailUnavailable`). A text longer than
its ``max_chars``, or one that looks binary, is refused, skipped or truncated as configured.

Local scanners over ordinary texts run inline, one after the other: none of them waits, so tasks and
threads would only add cost. Any scanner that waits (a provider's moderation endpoint), or a text past
the scanner's ``inline_chars``, makes the stage run its scanners concurrently as tasks, the CPU work in
a small worker pool where the timeout is enforced and the event loop keeps serving.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache

import msgspec

from podium.canonical import ChatRequest, EmbeddingRequest, Message, Role, TextPart, ToolCall
from podium.errors import GuardrailBlocked, GuardrailUnavailable
from podium.guardrails.pii.scanner import resolve_overlaps
from podium.guardrails.pseudonymize import Pseudonymizer, apply
from podium.guardrails.scanner import Finding, LocalScanner, Scan, ScanContext, Scanner, Stage, sanitize
from podium.storage.records import GuardrailVerdict

__all__ = ["InputOutcome", "Policy", "Segment", "Spec", "StageResult", "run_stage"]

log = logging.getLogger("podium.guardrails")

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f\ufffd]")
_BINARY_SAMPLE = 4096


@lru_cache(maxsize=1)
def _pool() -> ThreadPoolExecutor:
    # Small on purpose: a scan that outlives its timeout keeps its thread until it ends, and must not
    # be able to take every thread of the process with it.
    return ThreadPoolExecutor(max_workers=2, thread_name_prefix="podium-guardrails")


def looks_binary(text: str) -> bool:
    """NUL bytes, or more than 1% control or replacement characters: not text a person wrote."""
    if "\x00" in text:
        return True
    sample = text[:_BINARY_SAMPLE]
    count = len(_CONTROL.findall(sample))
    return count > max(1, len(sample) // 100)


@dataclass(frozen=True, slots=True)
class Spec:
    """One scanner as its policy runs it."""

    name: str
    kind: str
    scanner: Scanner
    action: str
    timeout: float  # seconds
    fail_closed: bool
    max_chars: int
    on_oversize: str
    on_binary: str
    roles: frozenset[str]
    local: LocalScanner | None  # the scanner itself when its work is CPU on the string
    whole_text: bool = False  # needs the whole answer (a schema): streams are buffered for it


@dataclass(frozen=True, slots=True)
class Segment:
    """One text of a call: where it is (to write it back) and the role of its message."""

    text: str
    role: Role | None
    message: int  # the message's index (the input's index for embeddings; 0 for an answer)
    part: int | None = None  # the index of the text part, when the content is a list of parts
    call: int | None = None  # the index of the tool call whose arguments these are


@dataclass(slots=True)
class _Result:
    spec: Spec
    findings: dict[int, list[Finding]] = field(default_factory=dict)  # segment index -> findings
    refused: list[str] = field(default_factory=list)  # OVERSIZE / BINARY texts refused by on_* = block
    score: float = 0.0
    latency_ms: float = 0.0
    error: str | None = None
    message: str | None = None

    @property
    def kinds(self) -> tuple[str, ...]:
        found = {f.kind for fs in self.findings.values() for f in fs}
        return tuple(sorted(found | set(self.refused)))

    @property
    def count(self) -> int:
        return sum(len(fs) for fs in self.findings.values()) + len(self.refused)

    def verdict(self, policy: str, stage: Stage) -> GuardrailVerdict:
        if self.refused:
            action = "block"
        elif self.findings:
            action = self.spec.action
        else:
            action = "allow"
        return GuardrailVerdict(
            policy=policy,
            scanner=self.spec.name,
            stage=stage,
            action=action,  # type: ignore[arg-type]  # the config check allows only known actions
            kinds=self.kinds,
            count=self.count,
            score=round(self.score, 4),
            latency_ms=round(self.latency_ms, 3),
            error=self.error,
        )


@dataclass(slots=True)
class StageResult:
    """Every scanner's result over a stage's texts, and what they add up to."""

    policy: str
    stage: Stage
    results: list[_Result]

    def verdicts(self) -> tuple[GuardrailVerdict, ...]:
        return tuple(r.verdict(self.policy, self.stage) for r in self.results)

    def raise_if_refused(self, subject: str) -> None:
        """Blocked (a finding under ``block``, or a refused text) before unavailable (fail-closed)."""
        blocking = [r for r in self.results if r.refused or (r.findings and r.spec.action == "block")]
        if blocking:
            kinds = tuple(sorted({k for r in blocking for k in r.kinds}))
            reasons = []
            found = [k for k in kinds if k not in ("OVERSIZE", "BINARY")]
            if found:
                reasons.append(f"contains {', '.join(found)}")
            for r in blocking:
                if "OVERSIZE" in r.refused:
                    reasons.append(
                        f"has a text longer than scanner '{r.spec.name}' reads ({r.spec.max_chars} characters)"
                    )
                if "BINARY" in r.refused:
                    reasons.append("has text that looks binary (NUL or control characters)")
            details = "; ".join(r.message for r in blocking if r.message)
            scanners = ", ".join(sorted({r.spec.name for r in blocking}))
            message = (
                f"Blocked by guardrail policy '{self.policy}': {subject} {'; '.join(reasons)} "
                f"(scanner {scanners})." + (f" {details[0].upper()}{details[1:]}." if details else "")
            )
            raise GuardrailBlocked(message, policy=self.policy, kinds=kinds, stage=self.stage)
        for r in self.results:
            if r.error is not None and r.spec.fail_closed and r.error not in ("oversize", "binary"):
                raise GuardrailUnavailable(
                    f"Guardrail policy '{self.policy}' could not check {subject}: scanner '{r.spec.name}' "
                    f"{'timed out' if r.error == 'timeout' else 'failed'}, and the policy fails closed.",
                    policy=self.policy,
                    scanner=r.spec.name,
                )

    def replacements(self) -> dict[int, list[tuple[Finding, bool]]]:
        """Per segment: the findings to replace, each marked reversible (pseudonymize) or not."""
        out: dict[int, list[tuple[Finding, bool]]] = {}
        for r in self.results:
            if r.spec.action not in ("redact", "pseudonymize"):
                continue
            for i, findings in r.findings.items():
                out.setdefault(i, []).extend((f, r.spec.action == "pseudonymize") for f in findings)
        return out


async def _scan(spec: Spec, text: str, ctx: ScanContext) -> Scan:
    local = spec.local
    if local is None:
        return await spec.scanner.scan(text, ctx)
    if len(text) <= local.inline_chars:
        return local.check(text, ctx)
    return await asyncio.get_running_loop().run_in_executor(_pool(), local.check, text, ctx)


def _inline(spec: Spec, segments: Sequence[Segment]) -> bool:
    """Whether every scan of ``spec`` would run inline (no await: no timeout, no task needed)."""
    return spec.local is not None and all(len(s.text) <= spec.local.inline_chars for s in segments)


async def _run(
    spec: Spec, segments: Sequence[Segment], stage: Stage, request: ChatRequest | None, inline: bool
) -> _Result:
    result = _Result(spec)
    t0 = time.perf_counter()
    try:
        if inline:
            await _scan_all(result, spec, segments, stage, request)
        else:
            async with asyncio.timeout(spec.timeout):
                await _scan_all(result, spec, segments, stage, request)
    except TimeoutError:
        result.error = "timeout"
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # a broken scanner is handled as its policy says, and logged
        log.exception("guardrail scanner %r (%s) failed", spec.name, spec.kind)
        result.error = f"error: {type(exc).__name__}"
    result.latency_ms = (time.perf_counter() - t0) * 1000
    return result


async def _scan_all(
    result: _Result, spec: Spec, segments: Sequence[Segment], stage: Stage, request: ChatRequest | None
) -> None:
    for i, segment in enumerate(segments):
        if stage == "input" and segment.role is not None and segment.role not in spec.roles:
            continue
        text = segment.text
        if not text:
            continue
        if len(text) > spec.max_chars:
            if spec.on_oversize == "block":
                result.refused.append("OVERSIZE")
                continue
            if spec.on_oversize == "skip":
                result.error = "oversize"
                continue
            text = text[: spec.max_chars]
        if spec.on_binary != "scan" and looks_binary(text):
            if spec.on_binary == "block":
                result.refused.append("BINARY")
            else:
                result.error = "binary"
            continue
        scan = await _scan(spec, sanitize(text), ScanContext(stage=stage, role=segment.role, request=request))
        result.score = max(result.score, scan.score)
        if scan.findings:
            result.findings[i] = list(scan.findings)
            result.message = result.message or scan.message


async def run_stage(
    policy: str, specs: Sequence[Spec], segments: Sequence[Segment], stage: Stage, request: ChatRequest | None
) -> StageResult:
    """Every scanner of ``specs`` over ``segments``: inline when none waits, else concurrently."""
    inline = [_inline(s, segments) for s in specs]
    if all(inline):
        results = [await _run(s, segments, stage, request, True) for s in specs]
    else:
        results = list(
            await asyncio.gather(
                *(_run(s, segments, stage, request, i) for s, i in zip(specs, inline, strict=True))
            )
        )
    return StageResult(policy, stage, results)


# --------------------------------------------------------------------------- the request's texts


def chat_segments(request: ChatRequest) -> list[Segment]:
    segments = []
    for mi, message in enumerate(request.messages):
        content = message.content
        if isinstance(content, str):
            segments.append(Segment(content, message.role, mi))
        elif content is not None:
            segments.extend(
                Segment(p.text, message.role, mi, part=pi)
                for pi, p in enumerate(content)
                if isinstance(p, TextPart)
            )
        for ci, tool_call in enumerate(message.tool_calls):
            segments.append(Segment(tool_call.arguments, message.role, mi, call=ci))
    return segments


def embedding_segments(request: EmbeddingRequest) -> list[Segment]:
    return [Segment(text, "user", i) for i, text in enumerate(request.inputs) if isinstance(text, str)]


def _rewrite_message(message: Message, changed: dict[tuple[int | None, int | None], str]) -> Message:
    content = message.content
    if isinstance(content, str) and (None, None) in changed:
        content = changed[(None, None)]
    elif isinstance(content, tuple):
        content = tuple(
            TextPart(text=changed[(pi, None)]) if (pi, None) in changed and isinstance(p, TextPart) else p
            for pi, p in enumerate(content)
        )
    tool_calls = message.tool_calls
    if any(call is not None for _, call in changed):
        tool_calls = tuple(
            ToolCall(id=tc.id, name=tc.name, arguments=changed.get((None, ci), tc.arguments))
            for ci, tc in enumerate(tool_calls)
        )
    return msgspec.structs.replace(message, content=content, tool_calls=tool_calls)


@dataclass(frozen=True, slots=True)
class InputOutcome:
    """The request as the model will see it, and the placeholders to restore in its answer."""

    chat: ChatRequest | None
    embedding: EmbeddingRequest | None
    mapping: dict[str, str]  # placeholder -> original; empty unless something was pseudonymized


@dataclass(frozen=True, slots=True)
class Policy:
    """A named list of input and output scanners (``extends`` already flattened in)."""

    name: str
    input: tuple[Spec, ...]
    output: tuple[Spec, ...]

    @property
    def buffers_output(self) -> bool:
        return any(s.whole_text for s in self.output)

    async def check_input(
        self, chat: ChatRequest | None, embedding: EmbeddingRequest | None
    ) -> tuple[InputOutcome, tuple[GuardrailVerdict, ...], StageResult]:
        """Scan the request; the rewritten request, the verdicts, and the raw results (to raise on)."""
        segments = (
            chat_segments(chat) if chat is not None else embedding_segments(embedding) if embedding else []
        )
        stage = await run_stage(self.name, self.input, segments, "input", chat)
        verdicts = stage.verdicts()
        replacements = stage.replacements()
        if not replacements:
            return InputOutcome(chat, embedding, {}), verdicts, stage
        # Only now (something to replace) is the whole text read, to keep placeholders unambiguous.
        pseudonyms = Pseudonymizer("\n".join(s.text for s in segments)) if chat is not None else None
        new_text: dict[int, str] = {}
        for i, marked in replacements.items():
            kept = resolve_overlaps([f for f, _ in marked])
            reversible = {id(f) for f, r in marked if r}
            text = segments[i].text
            new_text[i] = apply(text, kept, pseudonyms, reversible=reversible)
        if chat is not None:
            by_message: dict[int, dict[tuple[int | None, int | None], str]] = {}
            for i, text in new_text.items():
                s = segments[i]
                by_message.setdefault(s.message, {})[(s.part, s.call)] = text
            messages = tuple(
                _rewrite_message(m, by_message[mi]) if mi in by_message else m
                for mi, m in enumerate(chat.messages)
            )
            chat = msgspec.structs.replace(chat, messages=messages)
        elif embedding is not None:
            inputs = tuple(new_text.get(i, text) for i, text in enumerate(embedding.inputs))
            embedding = msgspec.structs.replace(embedding, inputs=inputs)
        mapping = pseudonyms.mapping if pseudonyms is not None else {}
        return InputOutcome(chat, embedding, mapping), verdicts, stage
