"""Templates: compiled once per version in a Jinja2 sandbox, rendered with strictly checked variables.

The sandbox (``ImmutableSandboxedEnvironment``) refuses Python internals (``__class__``,
``__globals__``…) and mutation; the environment has no loader, so ``include``, ``import`` and
``extends`` cannot reach the file system — and templates using them are refused when the version is
created, along with any attribute or key that starts with ``_``, any filter Jinja does not know and
any variable the version does not declare. Rendering is bounded three ways: the output's size
(``max_output_chars``), the steps taken (loop iterations, calls and filters: ``max_steps``), and the
size of what ``*``, ``**``, ``%`` and filters may build on the way.

Variables are checked before rendering: a missing one (without a default), an unexpected one, or one
of the wrong type is a 400 that names it. Every error here is a :class:`~podium.errors.RequestError`
with a ``code`` saying which kind.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import msgspec
from jinja2 import StrictUndefined, meta, nodes
from jinja2 import TemplateError as JinjaTemplateError
from jinja2.exceptions import SecurityError
from jinja2.filters import do_indent, do_join, do_replace
from jinja2.runtime import Context, LoopContext
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import pass_eval_context

from podium.canonical import Message, Role
from podium.errors import RequestError
from podium.storage.prompt_records import PromptSpec, VariableSpec

__all__ = ["CompiledPrompt", "RenderLimits", "Sandbox", "check_template", "compile_prompt", "type_name"]

_VARIABLES_PARAM = "podium.prompt.variables"
# The string methods a template may call: none of them makes a string much longer than its inputs
# (replace and join are checked before they run). The rest (ljust, zfill, format, translate…) could
# allocate gigabytes before any size check saw the result.
_STR_METHODS = frozenset(
    {
        "capitalize", "casefold", "count", "endswith", "find", "index", "isalnum", "isalpha", "isdecimal",
        "isdigit", "islower", "isnumeric", "isspace", "istitle", "isupper", "join", "lower", "lstrip",
        "partition", "removeprefix", "removesuffix", "replace", "rfind", "rindex", "rpartition", "rsplit",
        "rstrip", "split", "splitlines", "startswith", "strip", "swapcase", "title", "upper",
    }
)  # fmt: skip
_DICT_ATTRIBUTES = frozenset(dir(dict))
_LOOP_ATTRIBUTES = frozenset(
    {
        "index",
        "index0",
        "revindex",
        "revindex0",
        "first",
        "last",
        "length",
        "depth",
        "depth0",
        "previtem",
        "nextitem",
    }
)
_WIDE_PERCENT = re.compile(r"%[-+ #0]*(?:\*|\d{4,})|%[-+ #0]*\d*\.(?:\*|\d{4,})")


DEFAULT_MAX_OUTPUT_CHARS = 1_000_000


@dataclass(frozen=True, slots=True)
class RenderLimits:
    max_output_chars: int = DEFAULT_MAX_OUTPUT_CHARS
    max_steps: int = 100_000


class _Budget:
    __slots__ = ("left", "limit")

    def __init__(self, steps: int, limit: int) -> None:
        self.left = steps
        self.limit = limit


_budget: ContextVar[_Budget | None] = ContextVar("podium_template_budget", default=None)


def _exhausted() -> RequestError:
    return RequestError(
        "The prompt's template took too many steps to render (loops, calls and filters are bounded).",
        code="template_too_costly",
    )


def _too_large(limit: int) -> RequestError:
    return RequestError(
        f"The prompt's template would render more than {limit} characters.", code="template_too_large"
    )


def _charge(steps: int = 1) -> _Budget | None:
    budget = _budget.get()
    if budget is not None:
        budget.left -= steps
        if budget.left < 0:
            raise _exhausted()
    return budget


def _check_size(value: Any, budget: _Budget | None) -> Any:
    if budget is not None and isinstance(value, str | list | tuple) and len(value) > budget.limit:
        raise _too_large(budget.limit)
    return value


def _bounded_filter(func: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(func)  # keeps jinja's pass_context / pass_environment markers
    def bounded(*args: Any, **kwargs: Any) -> Any:
        budget = _charge()
        return _check_size(func(*args, **kwargs), budget)

    return bounded


def _bounded(value: Any) -> Any:
    """Wrapped around every ``~`` concatenation when the template is compiled."""
    return _check_size(value, _charge())


def _loop_budget(iterable: Any) -> Iterator[Any]:
    """Wrapped around every ``{% for %}``'s iterable when the template is compiled: one step per item."""
    budget = _budget.get()
    for item in iterable:
        if budget is not None:
            budget.left -= 1
            if budget.left < 0:
                raise _exhausted()
        yield item


def _replaced_size(text: str, old: str, new: str, count: int = -1) -> int:
    hits = len(text) + 1 if old == "" else text.count(old)
    if count >= 0:
        hits = min(hits, count)
    return len(text) + hits * (len(new) - len(old))


def _joined_size(sep: str, items: Any) -> int:
    return len(sep) * max(len(items) - 1, 0) if isinstance(items, list | tuple | str) else 0


def _precheck(size: int) -> None:
    budget = _budget.get()
    limit = budget.limit if budget is not None else DEFAULT_MAX_OUTPUT_CHARS
    if size > limit:
        raise _too_large(limit)


def _replace(eval_ctx: Any, s: Any, old: Any, new: Any, count: int | None = None) -> Any:
    if isinstance(s, str) and isinstance(old, str) and isinstance(new, str):
        _precheck(_replaced_size(s, old, new, -1 if count is None else count))
    return do_replace(eval_ctx, s, old, new, count)


def _join(eval_ctx: Any, value: Any, d: str = "", attribute: Any = None) -> Any:
    _precheck(_joined_size(d, value) if isinstance(d, str) else 0)
    return do_join(eval_ctx, value, d, attribute)


_replace_filter = pass_eval_context(_replace)
_join_filter = pass_eval_context(_join)


def _indent(value: str, width: int | str = 4, first: bool = False, blank: bool = False) -> str:
    if isinstance(width, int) and not 0 <= width <= 100:
        raise RequestError("The 'indent' filter takes a width from 0 to 100.", code="template_unsafe")
    if isinstance(width, str) and len(width) > 100:
        raise RequestError(
            "The 'indent' filter's indentation is at most 100 characters.", code="template_unsafe"
        )
    return do_indent(value, width, first, blank)


class Sandbox(ImmutableSandboxedEnvironment):
    """The environment every prompt template is compiled in. No loader: no file access."""

    intercepted_binops = frozenset({"*", "**", "%", "+"})

    def __init__(self) -> None:
        super().__init__(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
        self.globals = {"range": self.globals["range"], "namespace": self.globals["namespace"]}
        filters = dict(self.filters)
        for risky in ("center", "format", "pprint", "random", "urlize", "xmlattr", "forceescape", "safe"):
            filters.pop(risky, None)
        filters["indent"] = _indent
        filters["replace"] = _replace_filter
        filters["join"] = _join_filter
        self.filters = {name: _bounded_filter(f) for name, f in filters.items()}
        self.filters["__loop_budget"] = _loop_budget
        self.filters["__bounded"] = _bounded

    def getattr(self, obj: Any, attribute: str) -> Any:
        # Fast paths for what prompt templates mostly read — a JSON object's key, a loop's counter —
        # with Jinja's own precedence (a dict method wins over a key of the same name).
        kind = type(obj)
        if kind is dict and attribute not in _DICT_ATTRIBUTES:
            try:
                return obj[attribute]
            except KeyError:
                return self.undefined(obj=obj, name=attribute)
        if kind is LoopContext and attribute in _LOOP_ATTRIBUTES:
            return getattr(obj, attribute)
        if isinstance(obj, str) and attribute not in _STR_METHODS:
            # before the sandbox's own str.format wrapper, which would otherwise let a width through
            return self.unsafe_undefined(obj, attribute)
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        if isinstance(obj, str) and isinstance(argument, str) and argument not in _STR_METHODS:
            return self.unsafe_undefined(obj, argument)
        return super().getitem(obj, argument)

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if isinstance(obj, str) and attr not in _STR_METHODS:
            return False  # "x".ljust(10**9) would allocate before any size check could run
        return bool(super().is_safe_attribute(obj, attr, value))

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        budget = _charge()
        limit = budget.limit if budget is not None else DEFAULT_MAX_OUTPUT_CHARS
        if operator == "*":
            for seq, n in ((left, right), (right, left)):
                if isinstance(seq, str | list | tuple) and isinstance(n, int) and len(seq) * n > limit:
                    raise _too_large(limit)
        elif operator == "**":
            if isinstance(right, int) and right > 256 and isinstance(left, int) and abs(left) > 1:
                raise RequestError(
                    "An exponent in the prompt's template is too large.", code="template_unsafe"
                )
        elif operator == "%" and isinstance(left, str) and _WIDE_PERCENT.search(left):
            raise RequestError("A '%' format in the prompt's template is too wide.", code="template_unsafe")
        return _check_size(super().call_binop(context, operator, left, right), budget)

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805 - jinja's signature
        budget = _charge()
        owner = getattr(__obj, "__self__", None)
        if isinstance(owner, str) and args:
            name = getattr(__obj, "__name__", "")
            if name == "replace" and len(args) >= 2 and isinstance(args[0], str) and isinstance(args[1], str):
                count = args[2] if len(args) > 2 and isinstance(args[2], int) else -1
                _precheck(_replaced_size(owner, args[0], args[1], count))
            elif name == "join":
                _precheck(_joined_size(owner, args[0]))
        return _check_size(super().call(__context, __obj, *args, **kwargs), budget)


# --------------------------------------------------------------------------- checking at creation


def _unsafe(message: str, param: str) -> RequestError:
    return RequestError(message, code="template_unsafe", param=param)


def check_template(
    env: Sandbox, source: str, param: str, declared: Mapping[str, VariableSpec]
) -> nodes.Template:
    """Parse ``source`` and refuse what a prompt template may not do; the checked tree, loops bounded."""
    try:
        tree = env.parse(source)
    except JinjaTemplateError as exc:
        raise RequestError(
            f"Invalid template at {param}: {exc}", code="invalid_template", param=param
        ) from None
    for stmt in tree.find_all((nodes.Include, nodes.Import, nodes.FromImport, nodes.Extends)):
        kind = type(stmt).__name__.lower()
        raise _unsafe(f"Templates cannot '{kind}' other templates or files ({param}).", param)
    for getattr_ in tree.find_all(nodes.Getattr):
        if getattr_.attr.startswith("_"):
            raise _unsafe(f"Template at {param} reaches the attribute '{getattr_.attr}': not allowed.", param)
    for getitem in tree.find_all(nodes.Getitem):
        key = getitem.arg
        if isinstance(key, nodes.Const) and isinstance(key.value, str) and key.value.startswith("_"):
            raise _unsafe(f"Template at {param} reaches the key '{key.value}': not allowed.", param)
    for const in tree.find_all(nodes.Const):
        if isinstance(const.value, str) and const.value.startswith("__"):
            raise _unsafe(f"Template at {param} names '{const.value}': not allowed.", param)
    for name in tree.find_all(nodes.Name):
        if name.name.startswith("_") or name.name == "self":  # self: the template object itself
            raise _unsafe(f"Template at {param} uses the name '{name.name}': not allowed.", param)
    for used in tree.find_all((nodes.Filter, nodes.Test)):
        assert isinstance(used, nodes.Filter | nodes.Test)
        table = env.filters if isinstance(used, nodes.Filter) else env.tests
        if used.name not in table or used.name.startswith("_"):
            kind = "filter" if isinstance(used, nodes.Filter) else "test"
            raise RequestError(
                f"Template at {param} uses the unknown {kind} '{used.name}'.",
                code="invalid_template",
                param=param,
            )
    undeclared = sorted(meta.find_undeclared_variables(tree) - env.globals.keys() - declared.keys())
    if undeclared:
        raise RequestError(
            f"Template at {param} uses the variable '{undeclared[0]}', which `variables` does not declare.",
            code="undeclared_variable",
            param=param,
        )
    for concat in list(
        tree.find_all(nodes.Concat)
    ):  # "a ~ b": checked after each join (at most twice the limit)
        _wrap_concat(concat)
    for loop in tree.find_all(nodes.For):
        loop.iter = nodes.Filter(loop.iter, "__loop_budget", [], [], None, None, lineno=loop.lineno)
    tree.set_environment(env)
    return tree


def _wrap_concat(concat: nodes.Concat) -> None:
    # Concat nodes have no hook of their own: move the node's operands into a fresh Concat inside a
    # size-checking filter, and make the original a one-operand concatenation of that filter's result.
    inner = nodes.Concat(list(concat.nodes), lineno=concat.lineno)
    concat.nodes = [nodes.Filter(inner, "__bounded", [], [], None, None, lineno=concat.lineno)]


# --------------------------------------------------------------------------- variables


_TYPE_NAMES = {str: "string", int: "integer", float: "number", bool: "boolean", list: "list", dict: "object"}


def type_name(value: Any) -> str:
    return "null" if value is None else _TYPE_NAMES.get(type(value), type(value).__name__)


def _checker(kind: str) -> Callable[[Any], bool]:
    match kind:
        case "string":
            return lambda v: type(v) is str
        case "number":
            return lambda v: type(v) is int or type(v) is float
        case "integer":
            return lambda v: type(v) is int
        case "boolean":
            return lambda v: type(v) is bool
        case "list":
            return lambda v: type(v) is list
        case "object":
            return lambda v: type(v) is dict
    raise ValueError(f"unknown variable type {kind!r}")


@dataclass(frozen=True, slots=True)
class _Variable:
    name: str
    kind: str
    check: Callable[[Any], bool]
    default: Any  # msgspec.UNSET: required


def check_default(name: str, spec: VariableSpec) -> None:
    if spec.default is not msgspec.UNSET and not _checker(spec.type)(spec.default):
        raise RequestError(
            f"The default of variable '{name}' is {type_name(spec.default)}, not {spec.type}.",
            code="invalid_variable",
            param=f"variables.{name}.default",
        )


# --------------------------------------------------------------------------- compiled prompts


class CompiledPrompt:
    """One version's templates, compiled; ``render`` checks variables and returns the messages."""

    __slots__ = ("_globals", "_parts", "_variables", "env", "limits")

    def __init__(self, spec: PromptSpec, env: Sandbox, limits: RenderLimits) -> None:
        self.env = env
        self.limits = limits
        self._globals = dict(env.globals)
        for name, var in spec.variables.items():
            check_default(name, var)
        self._variables = tuple(
            _Variable(name, var.type, _checker(var.type), var.default) for name, var in spec.variables.items()
        )
        sources: list[tuple[Role, str, str]] = []  # (role, source, param)
        if spec.template is not None:
            sources.append(("user", spec.template, "template"))
        sources.extend((m.role, m.content, f"messages[{i}].content") for i, m in enumerate(spec.messages))
        parts = []
        for role, source, param in sources:
            tree = check_template(env, source, param, spec.variables)
            try:
                template = env.from_string(tree)
            except JinjaTemplateError as exc:
                raise RequestError(
                    f"Invalid template at {param}: {exc}", code="invalid_template", param=param
                ) from None
            parts.append((role, template.root_render_func, template.blocks))
        self._parts = tuple(parts)

    def bind(self, given: Mapping[str, Any] | None) -> dict[str, Any]:
        """The variables to render with: ``given`` checked against the declaration, defaults filled in."""
        given = given or {}
        bound: dict[str, Any] = {}
        matched = 0
        for var in self._variables:
            value = given.get(var.name, msgspec.UNSET)
            if value is not msgspec.UNSET:
                matched += 1
            if value is msgspec.UNSET:
                if var.default is msgspec.UNSET:
                    raise RequestError(
                        f"The prompt needs the variable '{var.name}' ({var.kind}), which the request does not give.",
                        code="missing_variable",
                        param=f"{_VARIABLES_PARAM}.{var.name}",
                    )
                value = var.default
            elif not var.check(value):
                raise RequestError(
                    f"The variable '{var.name}' must be {var.kind}, not {type_name(value)}.",
                    code="invalid_variable",
                    param=f"{_VARIABLES_PARAM}.{var.name}",
                )
            bound[var.name] = value
        if matched != len(given):
            for name in given:
                if name not in bound:
                    raise RequestError(
                        f"The prompt does not declare the variable '{name}'.",
                        code="unexpected_variable",
                        param=f"{_VARIABLES_PARAM}.{name}",
                    )
        return bound

    def render(self, given: Mapping[str, Any] | None) -> tuple[Message, ...]:
        parent = dict(self._globals)
        parent.update(self.bind(given))
        limit = self.limits.max_output_chars
        token = _budget.set(_Budget(self.limits.max_steps, limit))
        try:
            messages = []
            size = 0
            env = self.env
            for role, root, blocks in self._parts:
                chunks: list[str] = []
                append = chunks.append
                # A bare Context over ``parent``: Template.new_context would copy the globals' ChainMap
                # for every message, which was most of the render time.
                for chunk in root(Context(env, parent, None, blocks)):
                    append(chunk)
                    size += len(chunk)
                    if size > limit:
                        raise _too_large(limit)
                messages.append(Message(role=role, content="".join(chunks)))
            return tuple(messages)
        except RequestError:
            raise
        except SecurityError as exc:
            raise RequestError(
                f"The prompt's template did something unsafe: {exc}", code="template_unsafe"
            ) from None
        except RecursionError:
            raise _exhausted() from None
        except (JinjaTemplateError, ArithmeticError, TypeError, ValueError, LookupError) as exc:
            raise RequestError(
                f"The prompt's template failed to render: {exc}", code="template_error"
            ) from None
        finally:
            _budget.reset(token)


def compile_prompt(
    spec: PromptSpec, limits: RenderLimits | None = None, env: Sandbox | None = None
) -> CompiledPrompt:
    return CompiledPrompt(spec, env or Sandbox(), limits or RenderLimits())
