"""The synthesized rollforward stack, once per test session.

Synthesis runs the real CDK app (jsii + Node, cdk-nag as a validation plugin) through
`emulator.stack`, which caches it per process: these tests, the e2e tier and the emulator all
read the same template.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Template

from emulator.stack import SECOND_STACK_NAME, STACK_NAME, synthesize, synthesize_assembly
from tests.aws_fixtures import aws, throttled_aws  # noqa: F401 - fixtures of this tier


@pytest.fixture(scope="session")
def template_json() -> dict[str, Any]:
    """The CloudFormation template as a dict (do not mutate: it is shared)."""
    return synthesize()


@pytest.fixture(scope="session")
def second_template_json() -> dict[str, Any]:
    """The same app's template under another stack name, from the same synthesis."""
    return synthesize(stack_name=SECOND_STACK_NAME)


@pytest.fixture(scope="session")
def template(template_json: dict[str, Any]) -> Template:
    return Template.from_json(template_json)


@pytest.fixture(scope="session")
def assembly() -> Path:
    """The cloud assembly directory of the same synthesis (validation report, metadata)."""
    return synthesize_assembly()


@pytest.fixture(scope="session")
def stack_metadata(assembly: Path) -> dict[str, list[dict[str, Any]]]:
    """Construct path → metadata entries (acknowledgments among them)."""
    return json.loads((assembly / f"{STACK_NAME}.metadata.json").read_text())  # type: ignore[no-any-return]
