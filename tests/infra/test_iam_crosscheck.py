"""Every boto3 call a deployed function can reach is granted to its role, on the resource it
acts on — and nothing is excused: no allow-list of calls the analysis reports but the code
cannot make.

The static cross-check is `tests/infra/iam_call_sites.py` (its docstring says how call sites
are found and attributed). A Protocol-typed receiver reaches only the implementations the
function's own code constructs (its wiring in handlers/wiring.py), and a call made only under
`if state_machine_arn` only where the environment sets it. It is proven to bite: a copy of the
template with one statement removed, or one resource narrowed, fails it naming the function
and action.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from emulator.stack import HUB_STACK_NAME, MEMBER_STACK_NAME, synthesize
from infra.member_stack import CANARY_ROLE, READER_ROLE
from tests.infra import iam_call_sites as crosscheck
from tests.infra.test_member_stack import (
    MEMBER_SIDE,
    OVER_APPROXIMATED,
    ROLE_USERS,
    SKIPPED_SERVICES,
)

APPROVAL_REQUEST, CANARY, DECISION, DETECT, POSTURE, SCAN, TRACKING = (
    "ApprovalRequest",
    "Canary",
    "Decision",
    "Detect",
    "Posture",
    "Scan",
    "Tracking",
)
START_STOP = {"states:StopExecution", "states:StartExecution"}


@pytest.fixture(scope="module")
def report(template_json: dict[str, Any]) -> crosscheck.Report:
    return crosscheck.check(template_json)


def _function(logical: str) -> str:
    """A function's construct name (the logical id without CDK's hash)."""
    return logical[:-8]


def _missing(report: crosscheck.Report) -> set[tuple[str, str]]:
    return {(_function(row.function), row.action) for row in report.missing}


def _reached(report: crosscheck.Report) -> set[tuple[str, str]]:
    return {(_function(row.function), row.action) for row in report.rows}


def _policy_of(template: dict[str, Any], function: str) -> dict[str, Any]:
    (policy,) = (
        resource["Properties"]["PolicyDocument"]
        for logical, resource in template["Resources"].items()
        if resource["Type"] == "AWS::IAM::Policy" and logical.startswith(f"{function}Role")
    )
    return policy  # type: ignore[no-any-return]


def _statement_index(policy: dict[str, Any], action: str) -> int:
    (index,) = (
        i
        for i, statement in enumerate(policy["Statement"])
        if action in crosscheck._actions_of(statement)
    )
    return index


def test_every_reachable_call_is_granted_on_its_resource(report: crosscheck.Report) -> None:
    problems = "\n".join(crosscheck._lines(report))
    assert not report.missing, problems
    assert not report.unresolved, problems
    # The check is not vacuous: every deployed function reaches calls, the ones that matter
    # among them.
    assert {_function(row.function) for row in report.rows} == {
        APPROVAL_REQUEST,
        CANARY,
        DECISION,
        DETECT,
        POSTURE,
        SCAN,
        TRACKING,
    }
    assert {
        (CANARY, "lambda:UpdateAlias"),
        (CANARY, "lambda:PutRuntimeManagementConfig"),
        (SCAN, "lambda:ListFunctions"),
        (SCAN, "lambda:InvokeFunction"),  # the repair of a dead canary
        (DECISION, "states:SendTaskSuccess"),
        (POSTURE, "ecr:DescribeImages"),
        (TRACKING, "states:StartExecution"),  # continue-as-new
    } <= _reached(report)


def test_a_protocol_reaches_only_the_adapters_the_wiring_builds(
    report: crosscheck.Report,
) -> None:
    """Posture builds a Tracker only to open FunctionUpdate items (`track_function_update`):
    it reaches the ledger writes, the audit trail and StartExecution, never what the Tracker's
    other methods call (StopExecution in `close`), nor the canary's repair (the over-reach
    that withdrew this test in r3)."""
    posture = {action for function, action in _reached(report) if function == POSTURE}
    assert {"dynamodb:PutItem", "logs:PutLogEvents", "states:StartExecution"} <= posture
    assert "states:StopExecution" not in posture, posture
    built = crosscheck.constructed_classes("rollforward.handlers.posture.handler")
    assert {"DynamoLedger", "StepFunctionsExecutions"} <= built
    assert "InvokeCanaryRollback" not in built


def test_the_scan_invokes_only_the_canary_function(
    template_json: dict[str, Any], report: crosscheck.Report
) -> None:
    (scan,) = (
        info
        for logical, info in crosscheck.Template(template_json).functions().items()
        if _function(logical) == SCAN
    )
    (row,) = (
        r
        for r in report.rows
        if _function(r.function) == SCAN and r.action == "lambda:InvokeFunction"
    )
    assert row.resources == (
        f"arn:aws:lambda:us-east-1:123456789012:function:{scan['environment']['CANARY_FUNCTION']}",
    )
    assert row.sites == ("adapters.canary_repair.InvokeCanaryRollback.restore",)


def test_no_function_holds_an_unused_right_on_executions(report: crosscheck.Report) -> None:
    assert not report.failing_unused, "\n".join(crosscheck._lines(report))


@pytest.mark.parametrize(
    ("function", "action"),
    [
        (APPROVAL_REQUEST, "states:SendTaskSuccess"),  # the pin ended while asking
        (SCAN, "lambda:ListFunctions"),  # the inventory, on "*"
        (CANARY, "ssm:GetParameter"),  # the owner's test events
        (DETECT, "states:StartExecution"),
        (TRACKING, "states:StopExecution"),  # a superseded successor
        (POSTURE, "ecr:DescribeImages"),
    ],
)
def test_a_template_without_one_statement_fails_the_check(
    template_json: dict[str, Any], function: str, action: str
) -> None:
    broken = copy.deepcopy(template_json)
    policy = _policy_of(broken, function)
    removed = policy["Statement"].pop(_statement_index(policy, action))

    missing = _missing(crosscheck.check(broken))

    expected = {(function, a) for a in crosscheck._actions_of(removed)}
    assert (function, action) in missing
    assert missing <= expected, "only the removed statement's actions go missing"


def test_a_grant_on_the_wrong_resource_fails_the_check(template_json: dict[str, Any]) -> None:
    broken = copy.deepcopy(template_json)
    policy = _policy_of(broken, SCAN)
    statement = policy["Statement"][_statement_index(policy, "states:StopExecution")]
    statement["Resource"] = "arn:aws:states:us-east-1:123456789012:execution:another-machine:*"

    missing = _missing(crosscheck.check(broken))

    assert missing == {(SCAN, "states:DescribeExecution"), (SCAN, "states:StopExecution")}


def test_only_functions_outside_the_execution_start_or_stop_other_executions(
    template_json: dict[str, Any], report: crosscheck.Report
) -> None:
    """Tracking, ApprovalRequest and Canary run inside the pin's execution: when their live
    check closes a lifted pin they return "closed" and the execution ends itself; they get no
    STATE_MACHINE_ARN. Only Detect and the scan start and stop pins' executions (Posture starts
    those of the FunctionUpdate items it opens); Tracking
    starts (and, superseded, stops) its own successor, in continue-as-new, and nowhere else."""
    template = crosscheck.Template(template_json)
    with_arn = {
        _function(logical)
        for logical, info in template.functions().items()
        if info["environment"].get("STATE_MACHINE_ARN")
    }
    stoppers = {_function(row.function) for row in report.rows if row.action in START_STOP}
    granted = {
        _function(logical)
        for logical, info in template.functions().items()
        for _, statement in template.statements_of(info["role"])
        if START_STOP & set(crosscheck._actions_of(statement))
    }
    assert with_arn == {DETECT, SCAN, POSTURE}
    # (Posture only starts: the ladder of each FunctionUpdate item it opens)
    assert stoppers == granted == {DETECT, SCAN, TRACKING, POSTURE}
    for operation in ("StartExecution", "StopExecution"):
        chains = crosscheck.explain("rollforward.handlers.tracking.handler", operation)
        unguarded = [chain for chain in chains if "[if " not in chain[-1]]
        assert unguarded and all(
            any(link.startswith("rollforward.escalation.continuation.hand_over") for link in c)
            for c in unguarded
        ), unguarded
    # Tracker.close is reached from the other tasks too, where its guard skips the stop.
    for handler in ("canary", "approval_request"):
        sites = crosscheck.reachable_sites(f"rollforward.handlers.{handler}.handler")
        stops = [s for s in sites if s.operation in {"StartExecution", "StopExecution"}]
        assert stops and all(s.guard == "STATE_MACHINE_ARN" for s in stops)


def test_the_call_site_document_is_current(report: crosscheck.Report) -> None:
    written = crosscheck.table_rows(crosscheck.DOC.read_text())
    assert written == crosscheck.table_rows(crosscheck.render(report)), (
        "docs/iam-call-sites.md is stale: run `python -m tests.infra.iam_call_sites`"
    )


def test_a_hub_function_with_a_member_role_needs_assume_role(
    template_json: dict[str, Any],
) -> None:
    """Cross-account (issue 12): with MEMBER_ROLE_NAME set, a function assumes the member
    role (StsAccountSessions, past its `is_home` return) and its role must allow that."""
    broken = copy.deepcopy(template_json)
    (scan,) = (
        resource
        for logical, resource in broken["Resources"].items()
        if resource["Type"] == "AWS::Lambda::Function" and _function(logical) == SCAN
    )
    scan["Properties"]["Environment"]["Variables"]["MEMBER_ROLE_NAME"] = "rollforward-member"

    report = crosscheck.check(broken)

    (row,) = (r for r in report.missing if r.action == "sts:AssumeRole")
    assert _function(row.function) == SCAN
    assert row.resources == ("arn:aws:iam::210987654321:role/rollforward-member-us-east-1",)


# --------------------------------------------------------------------- the hub and the member
@pytest.fixture(scope="module")
def hub_json() -> dict[str, Any]:
    return synthesize(stack_name=HUB_STACK_NAME)


@pytest.fixture(scope="module")
def hub_report(hub_json: dict[str, Any]) -> crosscheck.Report:
    return crosscheck.check(hub_json)


def test_the_hub_templates_every_reachable_call_is_granted(hub_report: crosscheck.Report) -> None:
    """The hub template's parameters (OrganizationId, the StackSet's OUs and regions) resolve
    to their defaults: its functions' cross-account calls are checked as the single-account
    ones are."""
    problems = "\n".join(crosscheck._lines(hub_report))
    assert not hub_report.missing, problems
    assert not hub_report.failing_unused, problems
    assert {
        (SCAN, "organizations:ListAccountsForParent"),
        (SCAN, "organizations:ListOrganizationalUnitsForParent"),
        (SCAN, "sts:AssumeRole"),
        (CANARY, "sts:AssumeRole"),
        (DETECT, "sts:AssumeRole"),
    } <= _reached(hub_report)


def test_the_hub_may_assume_only_its_own_member_role(hub_json: dict[str, Any]) -> None:
    """Bites on the hub template: the canary's grant narrowed to the reader role (or the
    organization condition to another organization) leaves its AssumeRole ungranted."""
    for narrow in ("role", "organization"):
        broken = copy.deepcopy(hub_json)
        policy = _policy_of(broken, CANARY)
        statement = policy["Statement"][_statement_index(policy, "sts:AssumeRole")]
        if narrow == "role":
            statement["Resource"] = "arn:aws:iam::*:role/rollforward-reader-*"
        else:
            statement["Condition"] = {"StringEquals": {"aws:ResourceOrgID": "o-anotherorg1"}}
        assert (CANARY, "sts:AssumeRole") in _missing(crosscheck.check(broken)), narrow


def test_a_template_parameter_without_a_value_is_an_error(hub_json: dict[str, Any]) -> None:
    broken = copy.deepcopy(hub_json)
    del broken["Parameters"]["MemberRegions"]["Default"]
    with pytest.raises(KeyError, match="MemberRegions"):
        crosscheck.check(broken)


@pytest.mark.parametrize("role_name", [READER_ROLE, CANARY_ROLE])
def test_each_member_role_grants_the_hubs_calls_there_on_their_resources(
    role_name: str,
) -> None:
    """The member template (parameters from SAMPLE_PARAMETERS): every call the hub's code makes
    in a member as this role is allowed on the resource it acts on, not only by action
    (tests/infra/test_member_stack.py holds the actions to exactly those)."""
    member = crosscheck.Template(synthesize(stack_name=MEMBER_STACK_NAME))
    (role,) = (
        logical
        for logical, resource in member.resources.items()
        if resource["Type"] == "AWS::IAM::Role"
        and str(member.resolve(resource["Properties"].get("RoleName", ""))).startswith(role_name)
    )
    statements = member.statements_of(role)
    hub = crosscheck.Template(synthesize(stack_name=HUB_STACK_NAME))
    checked = 0
    for handler in ROLE_USERS[role_name]:
        for site in crosscheck.reachable_sites(f"rollforward.handlers.{handler}.handler"):
            if not site.module.startswith(MEMBER_SIDE) or site.service in SKIPPED_SERVICES:
                continue
            if (handler, site.action) in OVER_APPROXIMATED:
                continue
            for resource in crosscheck.resources_for(site, {}, hub):
                assert crosscheck._allowing(statements, site.action, resource), (
                    f"{role_name}: {site.where} {site.action} on {resource}"
                )
                checked += 1
    assert checked > 5
