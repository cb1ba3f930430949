"""The tamper-evident audit trail: a hash chain of entries, authenticated with a server key, with
signed checkpoints that can be kept elsewhere. See docs/audit.md.

* :mod:`podium.audit.chain` — how an entry commits to the previous one; the checker.
* :mod:`podium.audit.writer` — appends in batches off the request path.
* :mod:`podium.audit.events` — the events Podium records (admin changes, denials, model calls).
* :mod:`podium.audit.checkpoints` — Ed25519-signed checkpoints of the chain head.
* :mod:`podium.audit.verify` — ``podium audit verify``: names the first bad entry.
"""
