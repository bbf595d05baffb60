"""cdk-nag (AwsSolutions) and cfn-lint over the synthesized stack.

cdk-nag runs inside `app.synth()` (infra/app.py): an unacknowledged finding fails the synthesis
the session fixture does, so reaching these tests already means "no violation". They check
what the synthesis alone cannot: that the report says so, that every acknowledgment carries a
reason an auditor can read, and that none is stale (excusing a finding that no longer exists).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cfnlint.config import ConfigMixIn
from cfnlint.runner import Runner

from emulator.stack import ROOT, STACK_NAME

ACKNOWLEDGED = "aws:cdk:acknowledged-rules"


def plugin_reports(assembly: Path) -> list[dict[str, Any]]:
    report = json.loads((assembly / "validation-report.json").read_text())
    return report["pluginReports"]  # type: ignore[no-any-return]


def test_cdk_nag_ran_and_found_no_unacknowledged_finding(assembly: Path) -> None:
    reports = {report["pluginName"]: report for report in plugin_reports(assembly)}
    assert "AwsSolutions" in reports
    for name, report in reports.items():
        assert report["conclusion"] == "success", name
        assert report["violations"] == [], name


def test_every_acknowledged_finding_has_a_specific_reason(assembly: Path) -> None:
    suppressed = [
        violation
        for report in plugin_reports(assembly)
        for violation in report.get("suppressedViolations", [])
    ]
    assert suppressed, "the stack has acknowledged findings; the report must list them"
    for violation in suppressed:
        reason = violation.get("reason", "").strip()
        where = f"{violation['ruleName']} at {violation['acknowledgedAt']}"
        assert len(reason.split()) >= 5, f"{where}: reason too thin: {reason!r}"
        assert violation["ruleName"] not in reason, f"{where}: the reason restates the rule"


def acknowledgments(stack_metadata: dict[str, list[dict[str, Any]]]) -> set[tuple[str, str]]:
    return {
        (path.lstrip("/"), rule_id)
        for path, entries in stack_metadata.items()
        for entry in entries
        if entry["type"] == ACKNOWLEDGED
        for rule_id in entry["data"]
    }


def test_no_acknowledgment_is_stale(
    assembly: Path, stack_metadata: dict[str, list[dict[str, Any]]]
) -> None:
    used = {
        (violation["acknowledgedAt"], violation["acknowledgedId"])
        for report in plugin_reports(assembly)
        for violation in report.get("suppressedViolations", [])
    }
    made = acknowledgments(stack_metadata)
    assert made, "acknowledgments are recorded in the stack metadata"
    assert made - used == set(), "acknowledged findings that cdk-nag no longer reports"


def test_acknowledgments_name_one_finding_of_the_aws_solutions_pack(
    stack_metadata: dict[str, list[dict[str, Any]]],
) -> None:
    for path, rule_id in acknowledgments(stack_metadata):
        assert rule_id.startswith("AwsSolutions::AwsSolutions-"), (path, rule_id)
        if "-IAM5" in rule_id or "-IAM4" in rule_id:
            assert rule_id.endswith("]"), f"{path}: {rule_id} must name the finding, not the rule"


def test_cfn_lint_finds_nothing(assembly: Path) -> None:
    """Lints with the repository's .cfnlintrc.yaml (the CLI's config; ignores carry reasons)."""
    config = ConfigMixIn(cli_args=["--config-file", str(ROOT / ".cfnlintrc.yaml")])
    template = json.loads((assembly / f"{STACK_NAME}.template.json").read_text())
    matches = [str(match) for match in Runner(config).validate_template(template)]
    assert matches == []
