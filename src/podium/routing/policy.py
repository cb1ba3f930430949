"""The routing decision: from a resolved target to an ordered plan of attempts, with its reasons.

For one request, :meth:`Router.decide`:

1. picks the candidates: the first rule of the route whose facts hold narrows them to its ``use``,
   otherwise the route's ``deployments``; the route's ``fallbacks`` and each candidate's own
   ``fallbacks`` follow them;
2. filters every one of them, in this order — residency (never crossed, fallbacks included),
   capabilities, context window, ``min_quality``, ``max_cost_usd``, an open circuit, RPM/TPM capacity —
   and refuses the request with an error that names the filter when nothing is left;
3. orders the survivors with the strategy (:mod:`podium.routing.balance`), the deployments good at
   the classified task first, and those over the latency SLO last;
4. returns a :class:`Decision`: the plan, the retry policy, the time-to-first-token timeout, the
   designated content-policy and context-overflow deployments, and a one-line reason.

The classifier runs only for routes whose rules or deployments use its answer. With ``explain`` the
decision also lists every candidate and why it was chosen or left out (``POST /v1/route/explain``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from podium.canonical import ChatRequest, ImagePart, JsonSchemaFormat
from podium.config.model import Capability, Config, Route
from podium.config.routing import RetryPolicy, RoutingSettings, Rule
from podium.errors import PodiumError, RateLimited, RequestError
from podium.gateway.catalog import Candidate, Catalog
from podium.routing.balance import Option, order
from podium.routing.classifier import Classification, Classifier, default_classifier, load_classifier
from podium.routing.health import HealthBoard
from podium.routing.residency import NO_POLICY, Residency, ResidencyViolation

if TYPE_CHECKING:
    from podium.gateway.call import Call

__all__ = ["Considered", "Decision", "NoDeploymentAvailable", "Router"]

TIMEOUT_HEADER = "x-podium-timeout-ms"
MAX_COST_HEADER = "x-podium-max-cost-usd"


class NoDeploymentAvailable(PodiumError):
    """Every deployment that could serve the request has an open circuit (503, with Retry-After)."""

    status = 503
    type = "upstream_error"
    code = "circuit_open"

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class Considered:
    """One candidate in an explanation: ``verdict`` is chosen, planned, fallback or skipped."""

    deployment: str
    region: str | None
    verdict: str
    reason: str


@dataclass(slots=True)
class Decision:
    route: str | None
    plan: list[Candidate]
    reason: str
    strategy: str
    retry: RetryPolicy
    first_token_timeout: float | None  # seconds
    on_content_policy: list[Candidate]
    on_context_overflow: list[Candidate]
    residency: Residency
    excluded: list[str]  # deployments left out by residency, for the error message
    health: HealthBoard | None = None  # where the executor reports attempts
    min_attempt: float = 0.05  # seconds of budget an attempt needs to start
    rule: str | None = None
    classification: Classification | None = None
    input_tokens: int = 0
    considered: list[Considered] = field(default_factory=list)
    facts: dict[str, object] = field(default_factory=dict)


@dataclass(slots=True)
class _Facts:
    input_tokens: int
    output_tokens: int
    max_tokens: int
    tools: bool
    images: bool
    json_schema: bool
    text: str  # the last user message, for the classifier


def _facts(request: ChatRequest | None, default_output: int) -> _Facts:
    if request is None:
        return _Facts(0, 0, 0, False, False, False, "")
    chars = 0
    images = False
    text = ""
    for m in request.messages:
        if isinstance(m.content, str):
            chars += len(m.content)
        elif m.content:
            for p in m.content:
                if isinstance(p, ImagePart):
                    images = True
                else:
                    chars += len(p.text)
        if m.role == "user":
            text = m.text()
    for t in request.tools:
        chars += len(t.name) + len(t.description or "") + (len(str(t.parameters)) if t.parameters else 0)
    return _Facts(
        input_tokens=chars // 4 + 4 * len(request.messages),
        output_tokens=request.max_tokens or default_output,
        max_tokens=request.max_tokens or 0,
        tools=bool(request.tools),
        images=images,
        json_schema=isinstance(request.response_format, JsonSchemaFormat),
        text=text,
    )


def _needs(request: ChatRequest | None, api: str) -> list[Capability]:
    if request is None:
        return ["embeddings"] if api == "embeddings" else []
    needs: list[Capability] = ["chat"]
    if request.stream:
        needs.append("streaming")
    if request.tools:
        needs.append("tools")
    if request.response_format == "json_object":
        needs.append("json_object")
    elif isinstance(request.response_format, JsonSchemaFormat):
        needs.append("json_schema")
    if any(
        isinstance(m.content, tuple) and any(isinstance(p, ImagePart) for p in m.content)
        for m in request.messages
    ):
        needs.append("vision")
    return needs


def _glob_eq(want: str, have: str | None) -> bool:
    return have is not None and (want == "*" or want == have)


def _header_ms(call: Call, name: str) -> float | None:
    raw = call.headers.get(name)
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise RequestError(f"Header {name} must be a positive number, got {raw!r}.", param=name)
    return value


class Router:
    """The routing decisions for one configuration (rebuilt with the catalog on every reload)."""

    def __init__(self, config: Config, catalog: Catalog, health: HealthBoard) -> None:
        self.config = config
        self.settings: RoutingSettings = config.routing
        self.catalog = catalog
        self.health = health
        self._classifier: Classifier | None = None
        self._candidates: dict[str, Candidate | None] = {}
        # Routes whose decisions use the classifier: rules on task or complexity, or task-aware deployments.
        self._classified = {
            name
            for name, route in config.routes.items()
            if any(r.when.task or r.when.complexity for r in route.rules)
            or any(config.deployments[d].tasks for d in route.deployments if d in config.deployments)
        }

    def _candidate(self, name: str) -> Candidate | None:
        """The catalog's candidate for a deployment name, looked up once per configuration."""
        try:
            return self._candidates[name]
        except KeyError:
            c = self._candidates[name] = self.catalog.candidate(name)
            return c

    @property
    def classifier(self) -> Classifier:
        if self._classifier is None:
            path = self.settings.classifier
            self._classifier = load_classifier(path) if path else default_classifier()
        return self._classifier

    def warm_up(self) -> None:
        if self._classified:
            self.classifier.classify("warm up")

    # -------------------------------------------------------------- the decision

    def decide(self, call: Call, *, explain: bool = False) -> Decision:
        target = call.target
        assert target is not None
        if target.route is None and not explain and not call.principal.allowed_regions:
            direct = self._direct(call, target.candidates)
            if direct is not None:
                return direct
        route = self.config.routes.get(target.route) if target.route else None
        request = call.chat
        facts = _facts(request, self.settings.default_output_tokens)
        key = call.principal
        residency = Residency.of(key.allowed_regions, key.id, route.regions if route else (), target.route)
        classification: Classification | None = None
        if request is not None and (explain or (target.route in self._classified)):
            classification = self.classifier.classify(facts.text)
        rule, rule_name = self._rule(route, call, facts, classification) if route else (None, None)
        strategy = (rule.strategy if rule and rule.strategy else None) or (
            route.strategy if route else "ordered"
        )

        if route is None:
            primaries = list(target.candidates)
            route_fallbacks: list[Candidate] = []
        else:
            names = rule.use if rule else route.deployments
            primaries = [c for c in (self._candidate(n) for n in names) if c is not None]
            route_fallbacks = [c for c in (self._candidate(n) for n in route.fallbacks) if c is not None]

        considered: list[Considered] = []
        now = time.time()
        max_cost = route.max_cost_usd if route else None
        header_cost = call.headers.get(MAX_COST_HEADER)
        if header_cost is not None:
            try:
                asked = float(header_cost)
            except ValueError:
                asked = -1.0
            if not asked > 0:
                raise RequestError(
                    f"Header {MAX_COST_HEADER} must be a positive number.", param=MAX_COST_HEADER
                )
            max_cost = asked if max_cost is None else min(max_cost, asked)
        needs = _needs(request, call.api)

        # Every deployment that might be tried, in the order it would be, before filtering.
        pool: list[tuple[Candidate, str]] = []
        seen: set[str] = set()

        def add(c: Candidate, role: str) -> None:
            if c.deployment not in seen:
                seen.add(c.deployment)
                pool.append((c, role))

        for c in primaries:
            add(c, "primary")
        for c in list(primaries):
            for name in c.config.fallbacks:
                fb = self._candidate(name)
                if fb is not None:
                    add(fb, f"fallback of {c.deployment}")
        for c in route_fallbacks:
            add(c, "route fallback")

        survivors: list[tuple[Candidate, str]] = []
        skipped: dict[str, list[Candidate]] = {}
        excluded: list[str] = []
        soft_reasons: dict[str, str] = {}
        retry_in: list[float] = []
        costs: dict[str, float | None] = {}
        for c, role in pool:
            reason = self._filter(
                c, residency, needs, facts, route, max_cost, now, costs, soft_reasons, retry_in
            )
            if reason is None:
                survivors.append((c, role))
                continue
            kind = reason[0]
            skipped.setdefault(kind, []).append(c)
            if kind == "residency":
                excluded.append(c.deployment)
            if explain:
                considered.append(Considered(c.deployment, c.region, "skipped", reason[1]))

        if not survivors and "context" in skipped and route is not None and route.on_context_overflow:
            # Too long for every candidate: the deployments designated for long requests may take it.
            for name in route.on_context_overflow:
                designated = self._candidate(name)
                if designated is None or designated.deployment in seen:
                    continue
                c = designated
                seen.add(c.deployment)
                reason = self._filter(
                    c, residency, needs, facts, route, max_cost, now, costs, soft_reasons, retry_in
                )
                if reason is None:
                    survivors.append((c, "primary"))
                elif explain:
                    considered.append(Considered(c.deployment, c.region, "skipped", reason[1]))
            if survivors:
                rule_name = rule_name or "on_context_overflow"
        if not survivors:
            raise self._refusal(call, skipped, residency, facts, max_cost, costs, soft_reasons, retry_in)

        primary = [c for c, role in survivors if role == "primary"]
        ordered = primary
        if strategy != "ordered" and len(primary) > 1:
            options = [
                Option(
                    name=c.deployment,
                    weight=(route.weights.get(c.deployment) if route else None) or c.config.weight,
                    cost=costs.get(c.deployment),
                    quality=c.config.quality,
                    stats=self.health.get(c.deployment).snapshot(now),
                )
                for c in primary
            ]
            by_name = {c.deployment: c for c in primary}
            weights = route.score_weights if route else None
            ordered = [by_name[o.name] for o in order(options, strategy, weights)]
        task_first = False
        if classification is not None and any(c.config.tasks for c in ordered):
            good = [c for c in ordered if classification.task in c.config.tasks]
            if good and good[0] is not ordered[0]:
                task_first = True
            ordered = good + [c for c in ordered if classification.task not in c.config.tasks]
        slow: list[Candidate] = []
        if route is not None and route.latency_slo_ms is not None:
            slo = route.latency_slo_ms
            fast: list[Candidate] = []
            for c in ordered:
                latency = self.health.get(c.deployment).latency
                (slow if latency is not None and latency > slo else fast).append(c)
            ordered = fast + slow
        plan: list[Candidate] = []
        placed: set[str] = set()
        survivor_names = {c.deployment for c, _ in survivors}
        for c in ordered:
            for fb in (c, *(self._candidate(n) for n in c.config.fallbacks)):
                if fb is not None and fb.deployment in survivor_names and fb.deployment not in placed:
                    placed.add(fb.deployment)
                    plan.append(fb)
        for c, _ in survivors:
            if c.deployment not in placed:
                placed.add(c.deployment)
                plan.append(c)

        parts = []
        if rule_name is not None:
            parts.append(f"rule {rule_name}")
        if classification is not None and (rule_name is not None or task_first):
            parts.append(f"task {classification.task}")
        if task_first:
            parts.append(f"{plan[0].deployment} is good at {classification.task}" if classification else "")
        if strategy != "ordered" and len(primary) > 1:
            parts.append(f"strategy {strategy}")
        if not parts:
            parts.append("only candidate" if len(primary) == 1 else "first in order")
        if slow and plan[0] in slow:
            parts.append("every candidate is over the latency SLO")
        if not primary:
            parts = [f"route fallback {plan[0].deployment}: no primary deployment is available"]
        if soft_reasons:
            parts.append("skipped " + ", ".join(f"{n} ({why})" for n, why in soft_reasons.items()))
        if excluded:
            parts.append(f"residency excluded {len(excluded)}")
        decision = Decision(
            route=target.route,
            plan=plan,
            reason=", ".join(p for p in parts if p),
            strategy=strategy,
            retry=(route.retry if route and route.retry else None) or self.settings.retry,
            first_token_timeout=(route.first_token_timeout_ms / 1000)
            if route and route.first_token_timeout_ms
            else None,
            on_content_policy=self._designated(route.on_content_policy if route else (), residency, needs),
            on_context_overflow=self._designated(
                route.on_context_overflow if route else (), residency, needs
            ),
            residency=residency,
            excluded=excluded,
            health=self.health,
            min_attempt=self.settings.min_attempt_ms / 1000,
            rule=rule_name,
            classification=classification,
            input_tokens=facts.input_tokens,
        )
        if explain:
            for i, c in enumerate(plan):
                verdict = "chosen" if i == 0 else ("planned" if c in primary else "fallback")
                slow_note = " (over the latency SLO)" if c in slow else ""
                considered.append(Considered(c.deployment, c.region, verdict, f"attempt {i + 1}{slow_note}"))
            decision.considered = considered
            decision.facts = {
                "input_tokens": facts.input_tokens,
                "output_tokens": facts.output_tokens,
                "tools": facts.tools,
                "images": facts.images,
                "json_schema": facts.json_schema,
                "max_cost_usd": max_cost,
                "allowed_regions": list(residency.allowed),
            }
        return decision

    def _direct(self, call: Call, candidates: tuple[Candidate, ...]) -> Decision | None:
        """A deployment asked for by name, healthy, without fallbacks or limits: the short way."""
        if len(candidates) != 1 or MAX_COST_HEADER in call.headers:
            return None
        c = candidates[0]
        cfg = c.config
        if cfg.fallbacks or cfg.context_window is not None or cfg.rpm is not None or cfg.tpm is not None:
            return None
        if self.health.get(c.deployment).open_until:
            return None
        if any(n not in cfg.capabilities for n in _needs(call.chat, call.api)):
            return None
        return Decision(
            route=None,
            plan=[c],
            reason="only candidate",
            strategy="ordered",
            retry=self.settings.retry,
            first_token_timeout=None,
            on_content_policy=[],
            on_context_overflow=[],
            residency=NO_POLICY,
            excluded=[],
            health=self.health,
            min_attempt=self.settings.min_attempt_ms / 1000,
        )

    def budget(self, call: Call) -> float | None:
        """The request's latency budget in seconds: the route's and the caller's header, the smaller."""
        target = call.target
        route = self.config.routes.get(target.route) if target and target.route else None
        budget = route.timeout_ms if route else None
        asked = _header_ms(call, TIMEOUT_HEADER)
        if asked is not None:
            budget = asked if budget is None else min(budget, asked)
        return budget / 1000 if budget is not None else None

    # -------------------------------------------------------------- parts

    def _rule(
        self, route: Route, call: Call, facts: _Facts, classification: Classification | None
    ) -> tuple[Rule | None, str | None]:
        for i, rule in enumerate(route.rules):
            if self._holds(rule, call, facts, classification):
                return rule, rule.name or f"#{i}"
        return None, None

    def _holds(self, rule: Rule, call: Call, facts: _Facts, classification: Classification | None) -> bool:
        w = rule.when
        key = call.principal
        request = call.chat
        if w.task and (classification is None or classification.task not in w.task):
            return False
        if w.complexity is not None and (
            classification is None or not w.complexity.holds(classification.complexity)
        ):
            return False
        if w.input_tokens is not None and not w.input_tokens.holds(facts.input_tokens):
            return False
        if w.tools is not None and w.tools != facts.tools:
            return False
        if w.images is not None and w.images != facts.images:
            return False
        if w.json_schema is not None and w.json_schema != facts.json_schema:
            return False
        if any(not _glob_eq(v, call.headers.get(k)) for k, v in w.headers.items()):
            return False
        metadata = (request.metadata if request else None) or {}
        if any(not _glob_eq(v, metadata.get(k)) for k, v in w.metadata.items()):
            return False
        user = request.user if request else (call.embedding.user if call.embedding else None)
        if w.user and user not in w.user:
            return False
        if any(not _glob_eq(v, key.metadata.get(k)) for k, v in w.key_tags.items()):
            return False
        if w.team and key.team not in w.team:
            return False
        return not (w.tenant and key.tenant not in w.tenant)

    def _filter(
        self,
        c: Candidate,
        residency: Residency,
        needs: list[Capability],
        facts: _Facts,
        route: Route | None,
        max_cost: float | None,
        now: float,
        costs: dict[str, float | None],
        soft: dict[str, str],
        retry_in: list[float],
    ) -> tuple[str, str] | None:
        """``None`` if ``c`` may serve the request, else (filter, reason)."""
        if residency.active and not residency.allows(c.region):
            return "residency", f"region {c.region or 'unknown'} is outside {', '.join(residency.allowed)}"
        missing = [n for n in needs if n not in c.config.capabilities]
        if missing:
            return "capability", f"lacks {', '.join(missing)}"
        window = c.config.context_window
        if window is not None and facts.input_tokens + facts.max_tokens > window:
            return "context", f"context window {window} < ~{facts.input_tokens} input tokens"
        if (
            route is not None
            and route.min_quality is not None
            and (c.config.quality or 0) < route.min_quality
        ):
            return "quality", f"quality {c.config.quality or 'unset'} < min_quality {route.min_quality}"
        cost = None
        if c.price is not None:
            cost = (facts.input_tokens * c.price.input + facts.output_tokens * c.price.output) / 1e6
        costs[c.deployment] = cost
        if max_cost is not None and cost is not None and cost > max_cost:
            return "cost", f"estimated ${cost:.6f} > max ${max_cost:g}"
        h = self.health.get(c.deployment)
        if h.settings.enabled and h.open_until and now < h.open_until:
            retry_in.append(h.open_until - now)
            soft[c.deployment] = "circuit open"
            return "circuit", f"circuit open for {h.open_until - now:.1f}s more"
        cfg = c.config
        if cfg.rpm is not None or cfg.tpm is not None:
            requests, tokens = h.usage(now)
            if cfg.rpm is not None and requests >= cfg.rpm:
                soft[c.deployment] = "at rpm capacity"
                return "capacity", f"at capacity: {requests}/{cfg.rpm} requests this minute"
            if cfg.tpm is not None and tokens + facts.input_tokens > cfg.tpm:
                soft[c.deployment] = "at tpm capacity"
                return "capacity", f"at capacity: {tokens}/{cfg.tpm} tokens this minute"
        return None

    def _designated(
        self, names: tuple[str, ...], residency: Residency, needs: list[Capability]
    ) -> list[Candidate]:
        out = []
        for name in names:
            c = self._candidate(name)
            if c is None or (residency.active and not residency.allows(c.region)):
                continue
            if all(n in c.config.capabilities for n in needs):
                out.append(c)
        return out

    def _refusal(
        self,
        call: Call,
        skipped: dict[str, list[Candidate]],
        residency: Residency,
        facts: _Facts,
        max_cost: float | None,
        costs: dict[str, float | None],
        soft: dict[str, str],
        retry_in: list[float],
    ) -> PodiumError:
        """The error for a request nothing can serve, naming the filter that left nothing."""
        model = call.model
        # The most fundamental filter that excluded someone explains the refusal.
        if set(skipped) == {"residency"}:
            names = ", ".join(f"{c.deployment} ({c.region or 'no region'})" for c in skipped["residency"])
            return ResidencyViolation(
                f"No deployment behind '{model}' is in a region this request may use. Residency policy: "
                f"{residency.policy()}; allowed regions: {', '.join(residency.allowed)}. Outside them: {names}.",
                param="model",
            )
        if "capability" in skipped and set(skipped) <= {"residency", "capability"}:
            missing = sorted(
                {
                    n
                    for c in skipped["capability"]
                    for n in _needs(call.chat, call.api)
                    if n not in c.config.capabilities
                }
            )
            return RequestError(
                f"No deployment behind '{model}' supports {', '.join(missing)}.", code="unsupported_feature"
            )
        if "context" in skipped and set(skipped) <= {"residency", "capability", "context"}:
            largest = max(c.config.context_window or 0 for c in skipped["context"])
            return RequestError(
                f"The request (~{facts.input_tokens} input tokens) exceeds the context window of every "
                f"deployment behind '{model}' (the largest is {largest}).",
                code="context_length_exceeded",
            )
        if "quality" in skipped and set(skipped) <= {"residency", "capability", "context", "quality"}:
            return RequestError(
                f"No deployment behind '{model}' meets the route's min_quality.",
                code="constraint_unsatisfiable",
            )
        if "cost" in skipped and set(skipped) <= {"residency", "capability", "context", "quality", "cost"}:
            cheapest = min(
                (
                    (costs[c.deployment], c.deployment)
                    for c in skipped["cost"]
                    if costs.get(c.deployment) is not None
                ),
                default=None,
            )
            cheapest_text = (
                f"; the cheapest estimate is ${cheapest[0]:.6f} ({cheapest[1]})" if cheapest else ""
            )
            return RequestError(
                f"No deployment behind '{model}' can answer within the cost limit of ${max_cost:g} per request "
                f"(~{facts.input_tokens} input + {facts.output_tokens} output tokens){cheapest_text}.",
                code="cost_limit_exceeded",
            )
        if "circuit" in skipped and "capacity" not in skipped:
            names = ", ".join(c.deployment for c in skipped["circuit"])
            return NoDeploymentAvailable(
                f"Every deployment behind '{model}' is failing and its circuit is open ({names}); try again shortly.",
                retry_after=min(retry_in) if retry_in else None,
            )
        names = ", ".join(c.deployment for c in skipped.get("capacity", []) + skipped.get("circuit", []))
        return RateLimited(
            f"Every deployment behind '{model}' is at its capacity this minute ({names}).",
            retry_after=60 - (time.time() % 60),
            code="deployment_capacity",
        )
