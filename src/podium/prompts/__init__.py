"""The prompt registry: immutable versions, movable labels, strict sandboxed templates, A/B splits.

* :mod:`podium.prompts.model` — parsing and checking a version's content (names, labels, specs).
* :mod:`podium.prompts.template` — the Jinja2 sandbox and strict variables.
* :mod:`podium.prompts.registry` — the service functions the admin API and the CLI both call.
* :mod:`podium.prompts.cache` — every replica's in-memory mirror, synced by polling a change number.
* :mod:`podium.prompts.step` — the request-path step that turns a prompt reference into messages.
* :mod:`podium.prompts.files` — a folder of YAML files ↔ the registry (``podium prompts push/pull``).
* :mod:`podium.prompts.admin` — the admin API under ``/admin/prompts``.

See docs/prompts.md.
"""
