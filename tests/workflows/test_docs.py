"""docs/workflows.md's examples work: the Python-built flow checks clean and its YAML reads back the same."""

from __future__ import annotations

import contextlib
import io
import re

import yaml

from podium.workflows import parse_flow
from tests.workflows.surface import ROOT

DOC = ROOT / "docs" / "workflows.md"


def test_the_python_example_builds_a_flow_whose_yaml_reads_back() -> None:
    """The ```python block runs as printed, and the YAML it prints parses into an equal flow."""
    [code] = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)
    printed = io.StringIO()
    namespace: dict[str, object] = {}
    with contextlib.redirect_stdout(printed):
        exec(compile(code, str(DOC), "exec"), namespace)  # the document's own example, run as printed
    flow, problems = parse_flow(yaml.safe_load(printed.getvalue()))
    assert problems == [] and flow == namespace["flow"]
