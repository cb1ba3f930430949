"""Public model names → the deployments that serve them, with a ready adapter for each.

Built once per configuration (at start and on every reload) so the request path only does dict
lookups. A name resolves, in order, to a route, a deployment, or a wildcard deployment
(``openai/*`` serves ``openai/gpt-4o`` with upstream model ``gpt-4o``).
"""

from __future__ import annotations

from dataclasses import dataclass

from podium.config.model import Config, Deployment, Price
from podium.providers.base import ChatModel, EmbeddingModel
from podium.providers.http import ClientPool
from podium.providers.presets import PRESETS
from podium.providers.registry import Instrument, ProviderContext, build_models

__all__ = ["Candidate", "Catalog", "Target"]

_WILDCARD_CACHE_LIMIT = 4096


@dataclass(frozen=True, slots=True)
class Candidate:
    """One deployment able to serve a request, with everything needed to call and bill it."""

    deployment: str  # the deployment's name in the config (``openai/*`` for a wildcard)
    provider: str
    provider_type: str
    upstream_model: str
    config: Deployment
    region: str | None
    price: Price | None
    chat: ChatModel
    embeddings: EmbeddingModel


@dataclass(frozen=True, slots=True)
class Target:
    """What a public model name resolved to: the route (if any) and its candidates in fallback order."""

    model: str
    route: str | None
    candidates: tuple[Candidate, ...]


class Catalog:
    def __init__(self, config: Config, pool: ClientPool, *, instrument: Instrument | None = None) -> None:
        # Imported here so that the price table loads with the catalog, not with every CLI command.
        from podium.accounting.pricing import PriceBook

        self.config = config
        self._prices = PriceBook()
        self.session_keys: set[tuple[str, int]] = set()
        self._providers = ProviderContext(
            pool=pool, accounts={}, session_keys=self.session_keys, instrument=instrument
        )
        self._deployments: dict[str, Candidate] = {}
        self._wildcards: list[tuple[str, str]] = []  # (prefix, deployment name), longest prefix first
        self._wild_cache: dict[str, Target | None] = {}
        for name, dep in config.deployments.items():
            if dep.model == "*" and name.endswith("/*"):
                self._wildcards.append((name[:-1], name))
            else:
                self._deployments[name] = self._candidate(name, dep, dep.model)
        self._wildcards.sort(key=lambda w: -len(w[0]))
        self._targets: dict[str, Target] = {}
        for name, cand in self._deployments.items():
            self._targets[name] = Target(model=name, route=None, candidates=(cand,))
        for name, route in config.routes.items():
            cands = tuple(self._resolve_deployment(d) for d in (*route.deployments, *route.fallbacks))
            self._targets[name] = Target(model=name, route=name, candidates=tuple(c for c in cands if c))

    def _candidate(self, name: str, dep: Deployment, upstream_model: str) -> Candidate:
        provider = self.config.providers[dep.provider]
        models = build_models(self._providers, dep.provider, provider, name, dep, upstream_model)
        return Candidate(
            deployment=name,
            provider=dep.provider,
            provider_type=provider.type,
            upstream_model=upstream_model,
            config=dep,
            region=dep.region or provider.region,
            price=self._prices.price_for(name, dep, upstream_model),
            chat=models.chat,
            embeddings=models.embeddings,
        )

    def _resolve_deployment(self, name: str) -> Candidate | None:
        cand = self._deployments.get(name)
        if cand is not None:
            return cand
        target = self._wildcard(name)
        return target.candidates[0] if target else None

    def _wildcard(self, model: str) -> Target | None:
        if model in self._wild_cache:
            return self._wild_cache[model]
        target = None
        for prefix, dep_name in self._wildcards:
            if model.startswith(prefix) and len(model) > len(prefix):
                dep = self.config.deployments[dep_name]
                try:
                    cand = self._candidate(dep_name, dep, model[len(prefix) :])
                except ValueError:
                    # the simulated provider refuses an unknown mode or option: an unknown model
                    break
                target = Target(model=model, route=None, candidates=(cand,))
                break
        if len(self._wild_cache) >= _WILDCARD_CACHE_LIMIT:
            self._wild_cache.clear()
        self._wild_cache[model] = target
        return target

    def candidate(self, deployment: str) -> Candidate | None:
        """The candidate for a deployment name (or a model under a wildcard), as routes list them."""
        return self._resolve_deployment(deployment)

    def resolve(self, model: str) -> Target | None:
        target = self._targets.get(model)
        if target is not None:
            return target
        return self._wildcard(model) if self._wildcards else None

    def public_models(self) -> list[str]:
        """Names a caller can ask for: routes, deployments, and examples of wildcard families."""
        names = list(self._targets)
        for prefix, dep_name in self._wildcards:
            provider = self.config.providers[self.config.deployments[dep_name].provider]
            if PRESETS[provider.type].wire == "simulated":
                from podium.simulator.spec import MODES

                names.extend(prefix + mode for mode in MODES)
        return names
