"""One chat call through a gateway's own pipeline, without HTTP: how judges and dataset runs ask models.

The call goes through every step a client's request would (prompt, limits, guardrails, routing,
fallbacks) and leaves its request record, so evaluation traffic is governed, billed and visible like
any other.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from multidict import CIMultiDict, CIMultiDictProxy

from podium.canonical import ChatRequest, Message
from podium.collect import Collector
from podium.errors import PodiumError
from podium.evaluation.evaluators import Caller
from podium.gateway.call import Call
from podium.gateway.delivery import collect_answer
from podium.gateway.http_io import new_request_id
from podium.storage.records import KeyRecord

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from podium.canonical import Event
    from podium.gateway.app import Gateway

__all__ = ["chat_call", "internal_principal", "judge_caller"]

_NO_HEADERS: CIMultiDictProxy[str] = CIMultiDictProxy(CIMultiDict())


def internal_principal(key_id: str, tenant: str, name: str) -> KeyRecord:
    """A principal for Podium's own calls (never stored, never usable from outside)."""
    return KeyRecord(id=key_id, name=name, hash="-", prefix="-", tenant=tenant, created_at=0.0)


async def chat_call(
    gw: Gateway, principal: KeyRecord, chat: ChatRequest
) -> tuple[Call, Collector, PodiumError | None]:
    """Run ``chat`` through ``gw``'s pipeline as ``principal``; the call, its collected answer, its error."""
    call = Call(id=new_request_id(), api="chat", headers=_NO_HEADERS, principal=principal, chat=chat)
    collector = Collector()
    try:
        primed = await gw.chat(call)
    except PodiumError as exc:
        call.error = exc
        gw.record(call, status=exc.status, collector=collector)
        return call, collector, exc
    failed = await collect_answer(
        gw, call, primed.first, cast("AsyncIterator[Event]", primed.rest), collector
    )
    return call, collector, failed


def judge_caller(gw: Gateway) -> Caller:
    """How judges ask their model: a gateway call as :data:`~podium.evaluation.judge.JUDGE_KEY_ID`."""
    from podium.evaluation.judge import JUDGE_KEY_ID

    async def ask(tenant: str, model: str, messages: tuple[Message, ...], temperature: float | None) -> str:
        chat = ChatRequest(model=model, messages=messages, temperature=temperature)
        principal = internal_principal(JUDGE_KEY_ID, tenant, "evaluation judge")
        _, collector, error = await chat_call(gw, principal, chat)
        if error is not None:
            raise error
        return collector.output_text()

    return ask
