"""Who may read a knowledge base, and which of its documents.

Three checks, all on every query and every RAG call, in this order:

1. **Tenant** — a knowledge base of another tenant does not exist for the caller (404).
2. **Rules** — the caller needs ``knowledge_bases:read``; then, when the knowledge base has access
   rules, one of them must match: the caller's key id in ``keys``, team in ``teams``, or one of its
   roles in ``roles`` (``"*"`` matches anyone; a rule with no lists matches everyone). No match is a
   403. A matching rule's ``filter`` limits the caller to the documents it selects; when several
   rules match, a document readable through any of them is readable.
3. **Documents** — a document with an ``allow`` list (``team:legal``, ``role:auditor``,
   ``key:key_…``) is read only by a caller holding one of those; without one, by all the above.

A knowledge base without rules is readable by every principal of its tenant that holds the permission.
"""

from __future__ import annotations

from dataclasses import dataclass

from podium.errors import PermissionDenied
from podium.identity.principal import Principal
from podium.knowledge.filters import Predicate, compile_filter
from podium.storage.knowledge_records import AccessRule, DocumentRecord, KnowledgeBaseRecord

__all__ = ["READ", "WRITE", "Grant", "Reader", "check_rules", "grant"]

READ = "knowledge_bases:read"
WRITE = "knowledge_bases:write"


@dataclass(frozen=True, slots=True)
class Reader:
    """The caller of a query, whatever its way in (API key, session, OIDC, the CLI)."""

    tenant: str
    actor: str  # "key:key_…", "user:usr_…", "cli:alice": for the audit trail
    key_id: str | None
    team: str | None
    roles: tuple[str, ...]
    permissions: frozenset[str]

    @classmethod
    def of(cls, principal: Principal) -> Reader:
        return cls(
            tenant=principal.tenant,
            actor=principal.actor,
            key_id=principal.id if principal.kind == "key" else None,
            team=principal.team,
            roles=principal.roles,
            permissions=principal.permissions,
        )

    def tokens(self) -> frozenset[str]:
        """What a document's ``allow`` list may name to let this reader in."""
        found = {f"role:{r}" for r in self.roles}
        if self.key_id:
            found.add(f"key:{self.key_id}")
        if self.team:
            found.add(f"team:{self.team}")
        return frozenset(found)


@dataclass(frozen=True, slots=True)
class Grant:
    """What one reader may read of one knowledge base."""

    predicate: Predicate | None  # None: every document (subject to allow lists)
    tokens: frozenset[str]
    key: str  # identifies the grant for caching: readers with equal keys see the same documents

    def allows(self, doc: DocumentRecord) -> bool:
        if doc.allow and not any(t in self.tokens for t in doc.allow):
            return False
        return self.predicate is None or self.predicate(doc)


def _matches(rule: AccessRule, reader: Reader) -> bool:
    if not (rule.keys or rule.teams or rule.roles):
        return True
    if "*" in rule.keys or "*" in rule.teams or "*" in rule.roles:
        return True
    if reader.key_id is not None and reader.key_id in rule.keys:
        return True
    if reader.team is not None and reader.team in rule.teams:
        return True
    return any(r in rule.roles for r in reader.roles)


def grant(kb: KnowledgeBaseRecord, reader: Reader) -> Grant:
    """What ``reader`` may read of ``kb`` (same tenant, checked by the caller); 403 if nothing."""
    if READ not in reader.permissions:
        raise PermissionDenied(
            f"Reading knowledge bases needs the '{READ}' permission, which your roles "
            f"({', '.join(reader.roles) or 'none'}) do not grant.",
            code="permission_denied",
        )
    tokens = reader.tokens()
    if not kb.access:
        return Grant(None, tokens, "all|" + ",".join(sorted(tokens)))
    matched = [i for i, rule in enumerate(kb.access) if _matches(rule, reader)]
    if not matched:
        raise PermissionDenied(
            f"This key may not read the knowledge base '{kb.name}'.", code="knowledge_base_forbidden"
        )
    if any(kb.access[i].filter is None for i in matched):
        return Grant(None, tokens, "all|" + ",".join(sorted(tokens)))
    predicates = [compile_filter(kb.access[i].filter, param=f"access[{i}].filter") for i in matched]
    key = "rules:" + ",".join(map(str, matched)) + "|" + ",".join(sorted(tokens))
    if len(predicates) == 1:
        return Grant(predicates[0], tokens, key)
    return Grant(lambda d: any(p(d) for p in predicates), tokens, key)


def check_rules(rules: tuple[AccessRule, ...]) -> None:
    """Refuse a malformed rule filter now, not at the first query (``RequestError`` naming it)."""
    for i, rule in enumerate(rules):
        if rule.filter is not None:
            compile_filter(rule.filter, param=f"access[{i}].filter")
