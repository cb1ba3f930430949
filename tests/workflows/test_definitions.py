"""Flow definitions: YAML and Python build the same model; `check` reports every problem with its path."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from podium.errors import ConfigError
from podium.workflows import (
    BranchCase,
    BranchStep,
    ExpressionError,
    Flow,
    LlmStep,
    MessageTemplate,
    check_file,
    check_flow,
    compile_expression,
    load_flow,
    parse_flow,
    render,
)

GOOD = """
name: triage
inputs: {type: object, properties: {text: {type: string}}, required: [text]}
outputs: {answer: draft.text}
steps:
  - id: classify
    kind: llm
    model: sim/json
    messages: [{role: user, content: "Classify: {{ inputs.text }}"}]
    output_schema: {type: object, properties: {label: {type: string}}, required: [label]}
  - id: route
    kind: branch
    cases: [{when: 'classify.label == "urgent"', goto: draft}]
    default: end
  - id: draft
    kind: llm
    model: sim/echo
    messages: [{role: user, content: "Reply to {{ inputs.text }}"}]
"""


def _problems(text: str) -> list[str]:
    _, problems = parse_flow(yaml.safe_load(text))
    return [str(p) for p in problems]


def test_yaml_and_python_build_the_same_flow() -> None:
    """A flow read from YAML equals the one built from the Python classes."""
    flow, problems = parse_flow(yaml.safe_load(GOOD))
    assert problems == [] and flow is not None
    schema = {"type": "object", "properties": {"label": {"type": "string"}}, "required": ["label"]}
    built = Flow(
        name="triage",
        inputs={"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]},
        outputs={"answer": "draft.text"},
        steps=(
            LlmStep(
                id="classify",
                model="sim/json",
                messages=(MessageTemplate(role="user", content="Classify: {{ inputs.text }}"),),
                output_schema=schema,
            ),
            BranchStep(
                id="route",
                cases=(BranchCase(when='classify.label == "urgent"', goto="draft"),),
                default="end",
            ),
            LlmStep(
                id="draft",
                model="sim/echo",
                messages=(MessageTemplate(role="user", content="Reply to {{ inputs.text }}"),),
            ),
        ),
    )
    assert flow == built
    assert check_flow(built) == []


def test_every_problem_is_reported_with_its_path() -> None:
    """Unknown targets, references, kinds, bad expressions and schemas are each reported, with a path."""
    problems = _problems(
        """
name: bad
outputs: {x: nowhere.value}
steps:
  - id: a
    kind: llm
    model: m
    messages: [{role: user, content: "{{ inptus.text }}"}]
    output_schema: {type: 12}
  - id: b
    kind: branch
    cases: [{when: 'a.label ==', goto: revieww}]
  - id: review
    kind: human_review
    content: a
  - id: c
    kind: tol
"""
    )
    assert (
        "steps[3].kind: 'tol' is not one of: llm, retrieve, tool, branch, map, validate, human_review, subflow (did you mean 'tool'?)"
        in problems
    )
    problems = _problems(
        """
name: bad
outputs: {x: nowhere.value}
steps:
  - id: a
    kind: llm
    model: m
    messages: [{role: user, content: "{{ inptus.text }}"}]
    output_schema: {type: 12}
  - id: b
    kind: branch
    cases: [{when: 'a.label ==', goto: revieww}]
  - id: review
    kind: human_review
    content: a
"""
    )
    text = "\n".join(problems)
    assert (
        "steps[0].messages[0].content: unknown reference 'inptus'" in text
        and "(did you mean 'inputs'?)" in text
    )
    assert "steps[0].output_schema: not a valid JSON Schema" in text
    assert "steps[1].cases[0].when: invalid expression 'a.label =='" in text
    assert "steps[1].cases[0].goto: unknown step 'revieww' (did you mean 'review'?)" in text
    assert "outputs.x: unknown reference 'nowhere'" in text


def test_field_errors_name_the_step_and_field() -> None:
    """A mistyped field says where it is and what was expected."""
    problems = _problems(
        """
name: bad
steps:
  - id: a
    kind: tool
    function: x
    retry: {attempts: many}
  - {id: b, kind: llm, model: m, messages: [], colour: red}
"""
    )
    assert problems[0].startswith("steps[0].retry.attempts: expected int, got str")
    assert problems[1].startswith("steps[1]: object contains unknown field")
    assert "colour" in problems[1]


def test_a_cycle_without_bound_is_refused_and_max_visits_bounds_it() -> None:
    """A loop back to an earlier step needs max_visits on one of its steps."""
    loop = """
name: loop
steps:
  - {id: draft, kind: llm, model: m, messages: [{role: user, content: hi}]}
  - id: check
    kind: branch
    cases: [{when: 'draft.text == ""', goto: draft}]
"""
    assert _problems(loop) == [
        "steps: the cycle draft -> check -> draft has no bound: give one of its steps max_visits"
    ]
    bounded = loop.replace("kind: branch\n", "kind: branch\n    max_visits: 3\n")
    assert _problems(bounded) == []


def test_tools_and_subflows_are_resolved(tmp_path: Path) -> None:
    """A tool function must exist beside the flow file; a subflow must name a loaded flow."""
    (tmp_path / "tools.py").write_text("def flag(text):\n    return {'level': 'low'}\n")
    (tmp_path / "f.yaml").write_text(
        """
name: f
steps:
  - {id: a, kind: tool, function: "tools.py:flag", args: {text: inputs.t}}
  - {id: b, kind: tool, function: "tools.py:missing"}
  - {id: c, kind: tool, function: "nope.py:x"}
  - {id: d, kind: subflow, flow: other}
"""
    )
    problems = check_file(tmp_path / "f.yaml")
    assert len(problems) == 3, problems
    assert "steps[1].function: " in problems[0] and "has no function 'missing'" in problems[0]
    assert "steps[2].function: no file" in problems[1]
    assert "steps[3].flow: unknown flow 'other'" in problems[2]
    with pytest.raises(ConfigError) as raised:
        load_flow(tmp_path / "missing.yaml")
    assert "cannot read" in str(raised.value)


def test_shipped_examples_check_clean() -> None:
    """The examples under examples/flows pass the check."""
    for path in sorted(Path("examples/flows").glob("*.yaml")):
        assert check_file(path) == [], path


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('a.risk == "high" or b.level == "high"', True),
        ('a.risk == "high" and b.level == "high"', False),
        ("not a.missing", True),
        ("a.score >= 0.5 and a.score < 1", True),
        ('"term" in a.text', True),
        ('"x" not in a.tags', True),
        ("a.tags[0] == 'red'", True),
        ('a["risk"] in ["high", "medium"]', True),
        ("a.missing.deeper == null", True),
        ("a.missing > 3", False),
        ("(a.score > 1 or true) and a.tags[5] == null", True),
    ],
)
def test_conditions_evaluate_over_data(text: str, expected: bool) -> None:
    """Conditions compare, test membership and combine, with absent paths as null."""
    data = {
        "a": {"risk": "high", "score": 0.75, "text": "the term ends", "tags": ["red", "blue"]},
        "b": {"level": "low"},
    }
    assert compile_expression(text)(data) is expected


@pytest.mark.parametrize("text", ["a ==", "__import__('os')", "a.b()", "1 +", "a.", "'open"])
def test_conditions_refuse_anything_but_data(text: str) -> None:
    """Calls, operators outside the language and broken syntax do not parse."""
    with pytest.raises(ExpressionError):
        compile_expression(text)


def test_templates_render_values_and_text() -> None:
    """A lone {{ expr }} is the value itself; inside text, values are rendered (mappings as JSON)."""
    data = {"inputs": {"n": 3, "o": {"k": "v"}}}
    assert render("{{ inputs.n }}", data) == 3
    assert render("n={{ inputs.n }} o={{ inputs.o }} none={{ inputs.x }}", data) == 'n=3 o={"k":"v"} none='
    with pytest.raises(ExpressionError):
        compile_expression("1 < 'a'")({})
