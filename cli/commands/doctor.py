"""`rollforward doctor`: are the deployment's prerequisites met where the configuration points?

One line per check, each failure with its fix:
- **credentials**: who the CLI is (`sts:GetCallerIdentity`);
- **cloudtrail**: a trail that logs this region's management write events and is logging
  (`DescribeTrails` + `GetTrailStatus` + `GetEventSelectors`): without one, EventBridge gets no
  "AWS API Call via CloudTrail" events and only the hourly scan finds pins;
- **stack**: the rollforward stack, found through its SSM discovery parameter;
- **the CLI's own IAM**: each read the CLI and console make (the ledger and approvals tables,
  the state machine's executions, the audit log group, the policy in force) tried once, and the
  decision API called with an empty request — the handler refuses it (400, audited as a refused
  request naming you), while IAM's refusal is a 403 from API Gateway.

Exit codes as everywhere (`rollforward_cli.errors`): 0 every check passed; 1 a check failed;
3 no usable credentials, AWS unreachable, or rollforward not deployed there.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from functools import partial
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from ..aws import AmbiguousDeployment, NotDeployed, discover
from ..errors import ACCESS_ERRORS, AUTH_ERRORS, explain
from .base import EXIT_FAILED, EXIT_OK, EXIT_UNREACHABLE, Context

TRAIL_FIX = (
    "create a trail that logs management events and start it: `aws cloudtrail create-trail "
    "--name management-events --s3-bucket-name BUCKET --is-multi-region-trail` then "
    "`aws cloudtrail start-logging --name management-events`"
)


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    # The failure makes every other check meaningless (exit 3): no identity, no stack.
    fatal: bool = False


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _denied(action: str, resource: str, error: Exception) -> Check | None:
    """A failed call as a check, when it is an access denial (else None: not ours to judge)."""
    if isinstance(error, ClientError) and _code(error) in ACCESS_ERRORS:
        return Check(
            action,
            False,
            f"access denied on {resource}",
            f"grant {action} on {resource} to this principal (README: IAM for people)",
        )
    return None


def check_credentials(context: Context) -> tuple[Check, str]:
    try:
        identity = context.target.client("sts").get_caller_identity()
    except (ClientError, BotoCoreError) as error:
        sentence, _ = explain(error)
        fatal = not isinstance(error, ClientError) or _code(error) in AUTH_ERRORS
        return (
            Check(
                "credentials",
                False,
                sentence,
                "configure credentials (--profile, AWS_PROFILE, or keys), or use --emulator",
                fatal=fatal,
            ),
            "",
        )
    arn = str(identity.get("Arn", ""))
    return Check("credentials", True, f"calling as {arn}"), arn


def _logs_management_writes(selectors: Mapping[str, Any]) -> bool:
    """Whether a trail's event selectors record Lambda's management write events."""
    for selector in selectors.get("EventSelectors") or []:
        if (
            selector.get("IncludeManagementEvents", True)
            and selector.get("ReadWriteType", "All") in ("All", "WriteOnly")
            and "lambda.amazonaws.com" not in (selector.get("ExcludeManagementEventSources") or [])
        ):
            return True
    for advanced in selectors.get("AdvancedEventSelectors") or []:
        fields = {f.get("Field"): f for f in advanced.get("FieldSelectors") or []}
        category = fields.get("eventCategory", {})
        read_only = fields.get("readOnly", {})
        source = fields.get("eventSource", {})
        if (
            "Management" in (category.get("Equals") or [])
            and "true" not in (read_only.get("Equals") or [])
            and "lambda.amazonaws.com" not in (source.get("NotEquals") or [])
        ):
            return True
    return False


def check_trail(context: Context, region: str) -> Check:
    """A trail covering `region` that is logging and records management write events."""
    cloudtrail = context.target.client("cloudtrail")
    try:
        trails = cloudtrail.describe_trails(includeShadowTrails=True).get("trailList", [])
        problems: list[str] = []
        for trail in trails:
            if not (trail.get("IsMultiRegionTrail") or trail.get("HomeRegion") == region):
                continue
            name = str(trail.get("TrailARN") or trail.get("Name"))
            short = str(trail.get("Name") or name)
            if not cloudtrail.get_trail_status(Name=name).get("IsLogging"):
                problems.append(f"trail {short} is not logging")
                continue
            if not _logs_management_writes(cloudtrail.get_event_selectors(TrailName=name)):
                problems.append(f"trail {short} does not record management write events")
                continue
            scope = "every region" if trail.get("IsMultiRegionTrail") else region
            return Check("cloudtrail", True, f"trail {short} logs management events ({scope})")
    except ClientError as error:
        denied = _denied(
            "cloudtrail:DescribeTrails, GetTrailStatus, GetEventSelectors", "trails", error
        )
        if denied is not None:
            return Check("cloudtrail", False, denied.detail, denied.fix)
        raise
    found = "; ".join(problems) if problems else f"no trail covers {region}"
    return Check(
        "cloudtrail",
        False,
        f"{found}: EventBridge gets no runtime-management events, only the hourly scan finds pins",
        TRAIL_FIX,
    )


def check_stack(context: Context) -> tuple[Check, dict[str, Any]]:
    try:
        discovery = discover(context.target, context.options.stack)
    except NotDeployed as error:
        return Check("stack", False, str(error), "deploy it (`npx cdk deploy`)", fatal=True), {}
    except AmbiguousDeployment as error:
        return Check("stack", False, str(error), "name one with --stack NAME", fatal=True), {}
    except ClientError as error:
        action = "ssm:GetParameter" if context.options.stack else "ssm:GetParametersByPath"
        denied = _denied(action, "/rollforward/stacks/*", error)
        if denied is None:
            raise
        return Check("stack", False, denied.detail, denied.fix, fatal=True), {}
    prefix = discovery.get("prefix") or "the stack"
    return Check("stack", True, f"found {prefix} (discovery parameter)"), discovery


def _probe(action: str, resource: str, call: Callable[[], object]) -> Check:
    try:
        call()
    except ClientError as error:
        denied = _denied(action, resource, error)
        if denied is not None:
            return denied
        return Check(action, False, f"{resource}: {explain(error)[0]}", "see the detail")
    return Check(action, True, f"allowed on {resource}")


def check_cli_iam(context: Context, discovery: Mapping[str, Any]) -> Iterable[Check]:
    """Each kind of call the CLI and the console make, tried once (reads only)."""
    target = context.target
    dynamodb = target.client("dynamodb")
    for table in (discovery.get("ledger_table"), discovery.get("approvals_table")):
        if not table:
            continue
        key = "pin_id" if table == discovery.get("ledger_table") else "approval_id"
        yield _probe("dynamodb:Scan", str(table), partial(dynamodb.scan, TableName=table, Limit=1))
        yield _probe(
            "dynamodb:GetItem",
            str(table),
            partial(dynamodb.get_item, TableName=table, Key={key: {"S": "rollforward-doctor"}}),
        )
    machine = discovery.get("state_machine_arn")
    if machine:
        yield _probe(
            "states:ListExecutions",
            str(machine),
            lambda: target.client("stepfunctions").list_executions(
                stateMachineArn=machine, maxResults=1
            ),
        )
    group = discovery.get("audit_log_group")
    if group:
        yield _probe(
            "logs:FilterLogEvents",
            str(group),
            lambda: target.client("logs").filter_log_events(logGroupName=group, limit=1),
        )
    function = discovery.get("tracking_function")
    if function:
        yield _probe(
            "lambda:GetFunctionConfiguration",
            str(function),
            lambda: target.client("lambda").get_function_configuration(FunctionName=function),
        )
    yield check_decision_api(context)


def check_decision_api(context: Context) -> Check:
    """An empty request: the decision handler answers 400 (IAM let it in), API Gateway 403."""
    action = "execute-api:Invoke"
    try:
        status, body = context.decisions.post()
    except Exception as error:  # unreachable API: the sentence says why
        return Check(action, False, explain(error)[0], "check the stack's decision API")
    if status == 400:
        return Check(action, True, "the decision API lets you in (an empty request refused)")
    if status == 403:
        message = str(body.get("message") or body.get("Message") or body.get("refused") or "")
        return Check(
            action,
            False,
            f"the decision API refused you (403 {message[:120]})".rstrip(),
            "grant execute-api:Invoke on the decision API (README: IAM for people)",
        )
    return Check(action, False, f"the decision API answered {status}", "see the detail")


def run_doctor(args: argparse.Namespace, context: Context) -> int:
    region = context.target.session.region_name or "us-east-1"
    checks: list[Check] = []
    identity, _arn = check_credentials(context)
    checks.append(identity)
    if not identity.fatal:
        checks.append(check_trail(context, region))
        stack, discovery = check_stack(context)
        checks.append(stack)
        if discovery:
            checks.extend(check_cli_iam(context, discovery))
    failed = [c for c in checks if not c.ok]
    lines = []
    for check in checks:
        mark = "ok  " if check.ok else "FAIL"
        fix = f" — fix: {check.fix}" if check.fix and not check.ok else ""
        lines.append(f"{mark}  {check.name:32} {check.detail}{fix}")
    summary = f"{len(checks) - len(failed)} of {len(checks)} checks passed (region {region})"
    context.out.result(
        {"region": region, "checks": [asdict(c) for c in checks], "ok": not failed},
        "\n".join([*lines, summary]),
    )
    if any(c.fatal for c in failed):
        return EXIT_UNREACHABLE
    return EXIT_FAILED if failed else EXIT_OK


def register(subparsers: Any, parents: list[argparse.ArgumentParser]) -> None:
    doctor = subparsers.add_parser(
        "doctor",
        parents=parents,
        help="check the deployment's prerequisites (CloudTrail trail, stack, your IAM)",
        description="Check, against the configured account and region, what rollforward needs: "
        "a CloudTrail trail logging management events, the deployed stack, and the IAM the CLI "
        "and console use. One line per check, with a fix for each failure. Exit 0 all passed, "
        "1 a check failed, 3 no credentials / unreachable / not deployed.",
    )
    doctor.set_defaults(handler=run_doctor)
