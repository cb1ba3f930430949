"""Reading flow files and checking them: every problem with its path, the way ``podium check`` reports.

::

    steps[3].cases[0].goto: unknown step 'revieww' (did you mean 'review'?)
    steps[1].args.text: unknown reference 'inptus' in 'inptus.contract'
    steps: the cycle parse -> check -> parse has no bound: give one of its steps max_visits

:func:`check_flow` checks a :class:`~podium.workflows.definition.Flow` built in Python the same way.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import fastjsonschema
import msgspec
import yaml

from podium.errors import ConfigError, ConfigProblem
from podium.workflows.conditions import ExpressionError, compile_expression, template_parts
from podium.workflows.definition import (
    END,
    BranchStep,
    Flow,
    HumanReviewStep,
    LlmStep,
    MapStep,
    RetrieveStep,
    Step,
    SubflowStep,
    ToolStep,
    ValidateStep,
)
from podium.workflows.tools import resolve_tool

__all__ = ["check_file", "check_flow", "check_flows", "flow_files", "load_flow", "parse_flow"]

_Base: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_Base):  # type: ignore[valid-type,misc]  # the base is chosen at import time
    """Safe YAML without timestamps: a date in a flow stays the string it was written as."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in _Base.yaml_implicit_resolvers.items()
}
_AT = re.compile(r"^(?P<message>.*) - at `\$(?P<where>.*)`$", re.DOTALL)
_STEP_TYPES: dict[str, type[Any]] = {
    "llm": LlmStep,
    "retrieve": RetrieveStep,
    "tool": ToolStep,
    "branch": BranchStep,
    "map": MapStep,
    "validate": ValidateStep,
    "human_review": HumanReviewStep,
    "subflow": SubflowStep,
}
_RESERVED = {"inputs", "error", END}


def _translate(exc: msgspec.ValidationError, path: str) -> ConfigProblem:
    message = str(exc)
    where = ""
    at = _AT.match(message)
    if at:
        message, where = at.group("message"), at.group("where")
    message = re.sub(r"`([^`]*)`", r"\1", message)
    return ConfigProblem(path + where, message[:1].lower() + message[1:])


def parse_flow(data: object, source: str | None = None) -> tuple[Flow | None, list[ConfigProblem]]:
    """A flow from YAML/JSON data, or None with every problem found (steps read one by one)."""
    problems: list[ConfigProblem] = []
    if not isinstance(data, dict):
        return None, [ConfigProblem("", "a flow must be a mapping with name and steps")]
    steps = data.get("steps")
    if not isinstance(steps, list) or not steps:
        problems.append(ConfigProblem("steps", "a flow needs a list of at least one step"))
        steps = []
    parsed: list[Step] = []
    for i, raw in enumerate(steps):
        path = f"steps[{i}]"
        if not isinstance(raw, dict):
            problems.append(ConfigProblem(path, "a step must be a mapping"))
            continue
        kind = raw.get("kind")
        if kind not in _STEP_TYPES:
            close = difflib.get_close_matches(str(kind), list(_STEP_TYPES), n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            problems.append(
                ConfigProblem(f"{path}.kind", f"'{kind}' is not one of: {', '.join(_STEP_TYPES)}{hint}")
            )
            continue
        try:
            parsed.append(msgspec.convert(raw, Step))
        except msgspec.ValidationError as exc:
            problems.append(_translate(exc, path))
    rest = {k: v for k, v in data.items() if k != "steps"}
    rest["steps"] = []
    try:
        shell = msgspec.convert(rest, Flow)
    except msgspec.ValidationError as exc:
        problems.append(_translate(exc, ""))
        return None, problems
    if problems:
        return None, problems
    flow = msgspec.structs.replace(shell, steps=tuple(parsed), source=source)
    return flow, check_flow(flow)


def _load(path: Path) -> tuple[Flow | None, list[ConfigProblem]]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        return None, [ConfigProblem("", f"cannot read {path}: {e.strerror or e}")]
    try:
        data = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        return None, [ConfigProblem("", f"invalid YAML{where}: {getattr(e, 'problem', None) or e}")]
    return parse_flow(data, str(path.resolve()))


def load_flow(path: str | Path) -> Flow:
    """Read one flow file; :class:`~podium.errors.ConfigError` with every problem if it is not usable."""
    flow, problems = _load(Path(path))
    if problems or flow is None:
        raise ConfigError(
            [ConfigProblem(f"{path}: {p.path}" if p.path else str(path), p.message) for p in problems]
        )
    return flow


def flow_files(paths: Iterable[str | Path]) -> list[Path]:
    """The flow files named by ``paths``: files as they are, directories' *.yaml / *.yml sorted."""
    found: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found += sorted(f for f in p.iterdir() if f.suffix in (".yaml", ".yml") and f.is_file())
        else:
            found.append(p)
    return found


def check_flows(
    paths: Iterable[str | Path], *, policies: set[str] | None = None
) -> tuple[dict[str, Flow], list[str]]:
    """Load and check flow files together (a subflow may name a flow of another file)."""
    loaded: list[tuple[Path, Flow]] = []
    problems: list[str] = []
    names: set[str] = set()
    for path in flow_files(paths):
        flow, found = _load(path)
        if flow is None:
            problems += [f"{path}: {p}" for p in found]
        elif flow.name in names:
            problems.append(f"{path}: name: a flow named {flow.name!r} is defined twice")
        else:
            names.add(flow.name)
            loaded.append((path, flow))
    flows: dict[str, Flow] = {}
    for path, flow in loaded:
        # Checked again knowing every flow's name: subflows may name flows of other files.
        found = check_flow(flow, known_flows=names, policies=policies)
        problems += [f"{path}: {p}" for p in found]
        if not found:
            flows[flow.name] = flow
    return flows, problems


def check_file(path: str | Path) -> list[str]:
    """Every problem of one flow file, as ``file: path: message`` lines; empty when it is fine."""
    _, problems = check_flows([path])
    return problems


# --------------------------------------------------------------------------- meaning


def _schema_problem(schema: Mapping[str, Any] | None, path: str) -> list[ConfigProblem]:
    if schema is None:
        return []
    try:
        fastjsonschema.compile(dict(schema))
    except (fastjsonschema.JsonSchemaDefinitionException, TypeError, ValueError) as e:
        return [ConfigProblem(path, f"not a valid JSON Schema: {e}")]
    return []


class _Checker:
    def __init__(self, flow: Flow, known_flows: set[str] | None, policies: set[str] | None) -> None:
        self.flow = flow
        self.known_flows = known_flows
        self.policies = policies
        self.ids = [s.id for s in flow.steps]
        self.problems: list[ConfigProblem] = []

    def add(self, path: str, message: str) -> None:
        self.problems.append(ConfigProblem(path, message))

    def target(self, path: str, ref: str | None) -> None:
        if ref is None or ref == END or ref in self.ids:
            return
        close = difflib.get_close_matches(ref, self.ids, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        self.add(path, f"unknown step '{ref}'{hint}")

    def expression(self, path: str, text: str, names: set[str], *, template: bool = False) -> None:
        try:
            found = template_parts(text) if template else [compile_expression(text)]
        except ExpressionError as e:
            self.add(path, f"invalid expression {text!r}: {e}")
            return
        for expression in found:
            for root in sorted(expression.roots - names):
                close = difflib.get_close_matches(root, sorted(names), n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                self.add(path, f"unknown reference '{root}' in {expression.source!r}{hint}")

    def templates(self, path: str, value: Any, names: set[str]) -> None:
        if isinstance(value, str):
            self.expression(path, value, names, template=True)
        elif isinstance(value, dict):
            for k, v in value.items():
                self.templates(f"{path}.{k}", v, names)
        elif isinstance(value, list):
            for i, v in enumerate(value):
                self.templates(f"{path}[{i}]", v, names)

    def run(self) -> list[ConfigProblem]:
        flow = self.flow
        names = {"inputs", "error", *self.ids}
        seen: set[str] = set()
        for i, step in enumerate(flow.steps):
            path = f"steps[{i}]"
            if not step.id:
                self.add(f"{path}.id", "required field is missing")
            elif step.id in seen:
                self.add(f"{path}.id", f"the step id '{step.id}' is used twice")
            elif step.id in _RESERVED:
                self.add(f"{path}.id", f"'{step.id}' is reserved; choose another id")
            seen.add(step.id)
            self.step(path, step, names)
        self.problems += _schema_problem(flow.inputs, "inputs")
        for name, text in flow.outputs.items():
            self.expression(f"outputs.{name}", text, names)
        self.target("fallback", flow.fallback)
        self.target("on_error", flow.on_error)
        if flow.on_timeout == "fallback" and flow.fallback is None:
            self.add("fallback", "on_timeout: fallback needs a fallback step")
        self.cycles()
        return self.problems

    def step(self, path: str, step: Step, names: set[str], inline: bool = False) -> None:
        self.target(f"{path}.next", step.next)
        self.target(f"{path}.fallback", step.fallback)
        if step.on_timeout == "fallback" and step.fallback is None:
            self.add(f"{path}.fallback", "on_timeout: fallback needs a fallback step")
        match step:
            case LlmStep():
                if step.prompt is None and not step.messages:
                    self.add(path, "an llm step needs messages or a prompt")
                if step.prompt is None and step.model is None:
                    self.add(f"{path}.model", "an llm step without a prompt needs a model")
                if step.prompt is not None and step.prompt.label and step.prompt.version is not None:
                    self.add(f"{path}.prompt", "a prompt takes a label or a version, not both")
                for j, m in enumerate(step.messages):
                    self.expression(f"{path}.messages[{j}].content", m.content, names, template=True)
                if step.prompt is not None:
                    self.templates(f"{path}.prompt.variables", step.prompt.variables, names)
                self.problems += _schema_problem(step.output_schema, f"{path}.output_schema")
            case RetrieveStep():
                self.expression(f"{path}.query", step.query, names, template=True)
                if not step.knowledge_bases:
                    self.add(f"{path}.knowledge_bases", "name at least one knowledge base")
            case ToolStep():
                if (step.function is None) == (step.http is None):
                    self.add(path, "a tool step needs exactly one of function and http")
                if step.function is not None:
                    try:
                        resolve_tool(step.function, self.flow.source)
                    except LookupError as e:
                        self.add(f"{path}.function", str(e))
                if step.http is not None:
                    self.expression(f"{path}.http.url", step.http.url, names, template=True)
                    self.templates(f"{path}.http.headers", step.http.headers, names)
                    for k, v in (step.http.body or {}).items():
                        self.value(f"{path}.http.body.{k}", v, names)
                for k, v in step.args.items():
                    self.value(f"{path}.args.{k}", v, names)
            case BranchStep():
                if not step.cases:
                    self.add(f"{path}.cases", "a branch needs at least one case")
                for j, case in enumerate(step.cases):
                    self.expression(f"{path}.cases[{j}].when", case.when, names)
                    self.target(f"{path}.cases[{j}].goto", case.goto)
                self.target(f"{path}.default", step.default)
            case ValidateStep():
                self.expression(f"{path}.input", step.input, names)
                if step.schema is None and step.policy is None:
                    self.add(path, "a validate step needs a schema, a policy or both")
                self.problems += _schema_problem(step.schema, f"{path}.schema")
                if step.policy is not None and self.policies is not None and step.policy not in self.policies:
                    self.add(f"{path}.policy", f"unknown guardrail policy '{step.policy}'")
                self.target(f"{path}.on_fail", step.on_fail)
            case HumanReviewStep():
                if inline:
                    self.add(path, "a human_review step cannot be inside a map")
                self.expression(f"{path}.content", step.content, names)
                self.problems += _schema_problem(step.schema, f"{path}.schema")
                self.target(f"{path}.on_reject", step.on_reject)
            case SubflowStep():
                if step.flow == self.flow.name:
                    self.add(f"{path}.flow", "a flow cannot run itself as a subflow")
                elif self.known_flows is not None and step.flow not in self.known_flows:
                    self.add(f"{path}.flow", f"unknown flow '{step.flow}'")
                for k, v in step.inputs.items():
                    self.value(f"{path}.inputs.{k}", v, names)
            case MapStep():
                if inline:
                    self.add(path, "a map cannot be inside a map")
                self.expression(f"{path}.over", step.over, names)
                self.step(f"{path}.step", step.step, names | {step.as_, "index"}, inline=True)

    def value(self, path: str, value: Any, names: set[str]) -> None:
        """An ``args`` / ``body`` / ``inputs`` value: a string is an expression; other JSON is literal."""
        if isinstance(value, str):
            self.expression(path, value, names)

    def cycles(self) -> None:
        """Every cycle of the step graph must pass a step with ``max_visits``."""
        steps = self.flow.steps
        edges: dict[str, set[str]] = {s.id: set() for s in steps}
        for i, s in enumerate(steps):
            after = steps[i + 1].id if i + 1 < len(steps) else END
            targets = {s.next or after, s.fallback or END}
            if isinstance(s, BranchStep):
                targets |= {c.goto for c in s.cases} | {s.default or after}
            if isinstance(s, ValidateStep):
                targets.add(s.on_fail or END)
            if isinstance(s, HumanReviewStep):
                targets.add(s.on_reject or END)
            if s.id != self.flow.on_error:  # the error step's own failure ends the run
                targets.add(self.flow.on_error or END)
            edges[s.id] = {t for t in targets if t in edges}
        bounded = {s.id for s in steps if s.max_visits is not None}
        graph = {k: {t for t in v if t not in bounded} for k, v in edges.items() if k not in bounded}
        cycle = _find_cycle(graph)
        if cycle:
            self.add(
                "steps",
                f"the cycle {' -> '.join(cycle)} has no bound: give one of its steps max_visits",
            )


def _find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for node in graph:
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def check_flow(
    flow: Flow, *, known_flows: set[str] | None = None, policies: set[str] | None = None
) -> list[ConfigProblem]:
    """Every problem of meaning: references, expressions, schemas, tools, unbounded cycles."""
    return _Checker(flow, known_flows, policies).run()
