"""The synthesized template: the properties of the deployed stack that an SRE or an auditor relies on.

Resources are found by type and logical-ID prefix (the construct id), never by position, so
adding resources does not break these tests; removing a guarantee does.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template
from moto.events.models import EventPattern
from rollforward.canary.initstart import parse_init_start

from emulator.stack import STACK_NAME
from infra.constructs.observability import ALERTING_STATUSES, AUDIT_QUERIES

Json = dict[str, Any]

RUNTIME_ARN = "arn:aws:lambda:eu-south-1::runtime:" + "7b620fc2" * 8


# --------------------------------------------------------------------------- helpers
def resources(template: Json, resource_type: str, prefix: str = "") -> dict[str, Json]:
    return {
        logical: spec
        for logical, spec in template["Resources"].items()
        if spec["Type"] == resource_type and logical.startswith(prefix)
    }


def only(template: Json, resource_type: str, prefix: str) -> tuple[str, Json]:
    found = resources(template, resource_type, prefix)
    assert len(found) == 1, f"expected one {resource_type} {prefix}*, found {sorted(found)}"
    ((logical, spec),) = found.items()
    return logical, spec["Properties"]


def ref(logical: str) -> Json:
    return {"Ref": logical}


def arn_of(logical: str) -> Json:
    return {"Fn::GetAtt": [logical, "Arn"]}


def as_text(value: Any) -> str:
    """An Fn::Join'ed string with every token replaced by `<Logical.Attribute>` or `<Logical>`."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return separator.join(as_text(part) for part in parts)
    if isinstance(value, dict) and "Ref" in value:
        return f"<{value['Ref']}>"
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        return "<{}.{}>".format(*value["Fn::GetAtt"])
    raise AssertionError(f"cannot flatten {value!r}")


def listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def iam_statements(template: Json) -> list[tuple[str, Json]]:
    """Every statement of every identity policy (not key or topic policies) with its owner."""
    found: list[tuple[str, Json]] = []
    for logical, spec in template["Resources"].items():
        props = spec.get("Properties", {})
        documents = []
        if spec["Type"] in {"AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"}:
            documents.append(props["PolicyDocument"])
        if spec["Type"] == "AWS::IAM::Role":
            documents.extend(policy["PolicyDocument"] for policy in props.get("Policies", []))
        for document in documents:
            found.extend((logical, statement) for statement in document["Statement"])
    return found


def role_statements(template: Json, role_logical_prefix: str) -> list[Json]:
    role, _ = only(template, "AWS::IAM::Role", role_logical_prefix)
    return [
        statement
        for spec in resources(template, "AWS::IAM::Policy").values()
        if ref(role) in spec["Properties"]["Roles"]
        for statement in spec["Properties"]["PolicyDocument"]["Statement"]
    ]


def definition(template: Json) -> Json:
    _, props = only(template, "AWS::StepFunctions::StateMachine", "Remediation")
    return json.loads(as_text(props["DefinitionString"]))  # type: ignore[no-any-return]


def all_states(states: Json) -> list[tuple[str, Json]]:
    """States at every depth: Parallel branches and Map iterators included."""
    found = []
    for name, state in states.items():
        found.append((name, state))
        for branch in state.get("Branches", []):
            found.extend(all_states(branch["States"]))
        for key in ("Iterator", "ItemProcessor"):
            if key in state:
                found.extend(all_states(state[key]["States"]))
    return found


# --------------------------------------------------------------------------- data at rest
def test_the_ledger_keeps_point_in_time_recovery_and_the_stack_key(template_json: Json) -> None:
    key, _ = only(template_json, "AWS::KMS::Key", "Key")
    logical, ledger = only(template_json, "AWS::DynamoDB::Table", "Ledger")
    assert ledger["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert ledger["SSESpecification"] == {
        "KMSMasterKeyId": arn_of(key),
        "SSEEnabled": True,
        "SSEType": "KMS",
    }
    assert ledger["DeletionProtectionEnabled"] is True
    assert template_json["Resources"][logical]["DeletionPolicy"] == "Retain"


def test_approvals_expire_through_ttl_and_are_encrypted(template_json: Json) -> None:
    key, _ = only(template_json, "AWS::KMS::Key", "Key")
    _, approvals = only(template_json, "AWS::DynamoDB::Table", "Approvals")
    assert approvals["TimeToLiveSpecification"] == {"AttributeName": "purge_at", "Enabled": True}
    assert approvals["SSESpecification"]["KMSMasterKeyId"] == arn_of(key)


def test_every_topic_is_encrypted_and_refuses_plain_http(template_json: Json) -> None:
    key, _ = only(template_json, "AWS::KMS::Key", "Key")
    topics = resources(template_json, "AWS::SNS::Topic")
    assert {logical.removesuffix(logical[-8:]) for logical in topics} >= {
        "OwnerTopic",
        "TeamTopic",
        "OncallTopic",
    }
    policies = [
        spec["Properties"] for spec in resources(template_json, "AWS::SNS::TopicPolicy").values()
    ]
    for logical, spec in topics.items():
        assert spec["Properties"]["KmsMasterKeyId"] == arn_of(key), logical
        assert any(
            ref(logical) in policy["Topics"]
            and any(
                s["Effect"] == "Deny"
                and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
                for s in policy["PolicyDocument"]["Statement"]
            )
            for policy in policies
        ), logical


def test_the_audit_trail_is_kept_ten_years_under_the_stack_key(template_json: Json) -> None:
    key, _ = only(template_json, "AWS::KMS::Key", "Key")
    logical, audit = only(template_json, "AWS::Logs::LogGroup", "AuditTrail")
    assert audit["RetentionInDays"] >= 3653
    assert audit["KmsKeyId"] == arn_of(key)
    assert template_json["Resources"][logical]["DeletionPolicy"] == "Retain"


def test_every_log_group_is_encrypted_and_expires(template_json: Json) -> None:
    key, _ = only(template_json, "AWS::KMS::Key", "Key")
    for logical, spec in resources(template_json, "AWS::Logs::LogGroup").items():
        assert spec["Properties"]["KmsKeyId"] == arn_of(key), logical
        assert spec["Properties"]["RetentionInDays"] > 0, logical


# --------------------------------------------------------------------------- the workflow
def test_the_state_machine_logs_every_transition_and_traces(template: Template) -> None:
    template.has_resource_properties(
        "AWS::StepFunctions::StateMachine",
        {
            "LoggingConfiguration": Match.object_like({"Level": "ALL"}),
            "TracingConfiguration": {"Enabled": True},
        },
    )


def test_the_execution_log_cannot_carry_the_task_token(template_json: Json) -> None:
    """RequestApproval's parameters carry $$.Task.Token, so they are in its TaskScheduled event:
    a log that includes execution data would hold every token. Level OFF or no execution data."""
    _, machine = only(template_json, "AWS::StepFunctions::StateMachine", "Remediation")
    token_states = [
        name
        for name, state in all_states(definition(template_json)["States"])
        if "$$.Task.Token" in json.dumps(state.get("Parameters", {}))
    ]
    assert "RequestApproval" in token_states
    logging = machine["LoggingConfiguration"]
    assert logging["Level"] == "OFF" or logging.get("IncludeExecutionData") is False, logging
    # Execution data off means no input, output or parameters of any state (AWS: "execution
    # data"); the destination is the stack's encrypted log group, never another one.
    (destination,) = logging["Destinations"]
    log_group = destination["CloudWatchLogsLogGroup"]["LogGroupArn"]
    assert log_group == arn_of(
        only(template_json, "AWS::Logs::LogGroup", "RemediationExecutions")[0]
    )


def test_every_task_state_retries_catches_and_times_out(template_json: Json) -> None:
    tasks = [
        (n, s) for n, s in all_states(definition(template_json)["States"]) if s["Type"] == "Task"
    ]
    assert tasks, "the remediation workflow has Task states"
    for name, state in tasks:
        assert state.get("Retry"), f"{name} has no Retry"
        assert state.get("Catch"), f"{name} has no Catch"
        assert any(c["ErrorEquals"] == ["States.ALL"] for c in state["Catch"]), (
            f"{name} lets some error escape its Catch"
        )
        assert "TimeoutSeconds" in state or "TimeoutSecondsPath" in state, f"{name} can hang"


def test_the_approval_wait_is_a_callback_bounded_by_a_timeout(template_json: Json) -> None:
    callbacks = [
        (name, state)
        for name, state in all_states(definition(template_json)["States"])
        if state.get("Resource", "").endswith(".waitForTaskToken")
    ]
    assert callbacks, "approvals wait for a task token"
    for name, state in callbacks:
        assert "$$.Task.Token" in json.dumps(state["Parameters"]), name
        assert "TimeoutSeconds" in state or "TimeoutSecondsPath" in state, name


# --------------------------------------------------------------------------- detection
def cloudtrail_event(event_name: str) -> Json:
    return {
        "source": "aws.lambda",
        "detail-type": "AWS API Call via CloudTrail",
        "detail": {"eventSource": "lambda.amazonaws.com", "eventName": event_name},
    }


@pytest.mark.parametrize(
    ("event_name", "matches"),
    [
        ("PutRuntimeManagementConfig", True),
        ("PutRuntimeManagementConfig20220301", True),
        ("GetRuntimeManagementConfig", False),
        ("UpdateFunctionConfiguration20150331v2", False),
    ],
)
def test_the_detection_rule_matches_the_cloudtrail_event_name_by_prefix(
    template_json: Json, event_name: str, matches: bool
) -> None:
    detect, _ = only(template_json, "AWS::Lambda::Function", "Detect")
    _, rule = only(template_json, "AWS::Events::Rule", "RuntimeConfigChanged")
    assert rule["EventPattern"]["detail"]["eventName"] == [{"prefix": "PutRuntimeManagementConfig"}]
    assert [t["Arn"] for t in rule["Targets"]] == [arn_of(detect)]
    pattern = EventPattern.load(json.dumps(rule["EventPattern"]))
    assert pattern.matches_event(cloudtrail_event(event_name)) is matches


def test_the_reconciling_scan_schedule_starts_the_scan_machine(template_json: Json) -> None:
    machine, _ = only(template_json, "AWS::StepFunctions::StateMachine", "ScanCycle")
    _, schedule = only(template_json, "AWS::Scheduler::Schedule", "ReconcilingScan")
    assert schedule["Target"]["Arn"] == {"Ref": machine}
    assert schedule["ScheduleExpression"].startswith(("rate(", "cron("))


# --------------------------------------------------------------------------- IAM
# Write actions AWS only accepts on Resource "*" (no resource-level permissions), and only these.
WRITES_AWS_ONLY_GRANTS_ON_STAR = {
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "logs:CreateLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:PutResourcePolicy",
}
READ_VERBS = ("Get", "List", "Describe", "BatchGet", "Query", "Scan", "Filter")


def test_no_identity_policy_grants_a_whole_service(template_json: Json) -> None:
    for owner, statement in iam_statements(template_json):
        for action in listed(statement["Action"]):
            assert action != "*" and not action.endswith(":*"), f"{owner}: {action}"


def test_no_write_action_is_granted_on_every_resource(template_json: Json) -> None:
    offenders = [
        (owner, action)
        for owner, statement in iam_statements(template_json)
        if statement["Effect"] == "Allow" and "*" in listed(statement["Resource"])
        for action in listed(statement["Action"])
        if not action.split(":", 1)[1].startswith(READ_VERBS)
        and action not in WRITES_AWS_ONLY_GRANTS_ON_STAR
    ]
    assert offenders == []


def test_runtime_mutations_are_never_granted_on_every_resource(template_json: Json) -> None:
    mutation = re.compile(
        r"^(lambda:(Put|Update|Publish|Create|Delete)|states:(SendTask|Start|Stop))"
    )
    for owner, statement in iam_statements(template_json):
        actions = [a for a in listed(statement["Action"]) if mutation.match(a)]
        assert not (actions and "*" in listed(statement["Resource"])), f"{owner}: {actions}"


def test_function_roles_use_no_aws_managed_policy(template_json: Json) -> None:
    for function, spec in resources(template_json, "AWS::Lambda::Function").items():
        role = spec["Properties"]["Role"]["Fn::GetAtt"][0]
        role_props = template_json["Resources"][role]["Properties"]
        assert not role_props.get("ManagedPolicyArns"), function


def test_the_decision_function_reads_only_runtime_settings_and_sends_no_notice(
    template_json: Json,
) -> None:
    actions = {
        a for s in role_statements(template_json, "DecisionRole") for a in listed(s["Action"])
    }
    assert "states:SendTaskSuccess" in actions
    # It re-reads the pinned function's setting (a lifted pin is refused), nothing else.
    assert {a for a in actions if a.startswith(("lambda:", "sns:"))} == {
        "lambda:GetRuntimeManagementConfig"
    }


def test_the_approval_callback_is_verified_before_the_decision_is_read(
    template_json: Json,
) -> None:
    """Whoever answers RequestApproval's token only reaches VerifyDecision, which re-reads the
    approval record; the Decision choice reads only VerifyDecision's output."""
    states = dict(all_states(definition(template_json)["States"]))
    assert states["RequestApproval"]["Next"] == "VerifyDecision"
    assert states["VerifyDecision"]["Next"] == "Decision"
    assert states["VerifyDecision"]["Parameters"]["Payload"]["action"] == "verify_decision"
    forged = [c for c in states["Decision"]["Choices"] if c.get("StringEquals") == "forged"]
    assert forged and forged[0]["Next"] == "RequestApproval"


# --------------------------------------------------------------------------- decision API
def test_every_decision_api_method_requires_iam_signatures(template_json: Json) -> None:
    methods = resources(template_json, "AWS::ApiGateway::Method")
    assert {spec["Properties"]["HttpMethod"] for spec in methods.values()} == {"POST"}
    for logical, spec in methods.items():
        assert spec["Properties"]["AuthorizationType"] == "AWS_IAM", logical


def test_decision_api_calls_are_access_logged_with_the_caller(template_json: Json) -> None:
    _, stage = only(template_json, "AWS::ApiGateway::Stage", "DecisionApi")
    access_log, _ = only(template_json, "AWS::Logs::LogGroup", "DecisionApiAccessLogs")
    assert stage["AccessLogSetting"]["DestinationArn"] == arn_of(access_log)
    log_format = json.loads(stage["AccessLogSetting"]["Format"])
    assert log_format["user"] == "$context.identity.user"
    assert log_format["caller"] == "$context.identity.caller"
    assert log_format["status"] == "$context.status"


# --------------------------------------------------------------------------- observability
def test_the_dashboard_shows_pins_approvals_canaries_executions_and_errors(
    template_json: Json,
) -> None:
    _, dashboard = only(template_json, "AWS::CloudWatch::Dashboard", "Observability")
    body = json.loads(as_text(dashboard["DashboardBody"]))
    metrics = [m for widget in body["widgets"] for m in widget["properties"].get("metrics", [])]
    named = {(m[0], m[1]) for m in metrics if isinstance(m[0], str)}
    searches = " ".join(m[0]["expression"] for m in metrics if isinstance(m[0], dict))
    emf = ("PinsOpen", "OldestPinAgeDays", "PendingApprovals", "PinsOpened", "RejectedEvents")
    assert {("rollforward", name) for name in emf} <= named
    assert '{rollforward,stage,service} MetricName="PinsByStage"' in searches
    assert '{rollforward,outcome,service} MetricName="CanaryOutcomes"' in searches
    # The posture widgets: one line per row of the shared-responsibility table.
    for posture in ("PostureUnmet", "PostureFunctions", "PostureOldestUnmetSeconds"):
        assert f'{{rollforward,Row,service}} MetricName="{posture}"' in searches, posture
    executions = ("Succeeded", "Failed", "Aborted", "TimedOut")
    assert {("AWS/States", f"Executions{ending}") for ending in executions} <= named
    scan = ("ScanCycleCoverage", "ScanCycleSeconds", "ScanTargets", "ScanTargetsFailed",
            "ScanCyclesSkipped", "ScanProgressCalls", "ScanProgressFunctions",
            "ControlPlaneThrottles", "ScanOrganizationUnreadable")  # fmt: skip
    assert {("rollforward", name) for name in scan} <= named  # handlers/scan.py report_cycle
    errors = {m[3] for m in metrics if m[:2] == ["AWS/Lambda", "Errors"]}
    functions = resources(template_json, "AWS::Lambda::Function")
    assert errors == {f"<{function}>" for function in functions}


def test_saved_queries_read_the_audit_trail(template_json: Json) -> None:
    audit, _ = only(template_json, "AWS::Logs::LogGroup", "AuditTrail")
    queries = {
        spec["Properties"]["Name"].split("/", 1)[1]: spec["Properties"]
        for spec in resources(template_json, "AWS::Logs::QueryDefinition").values()
    }
    assert set(queries) == set(AUDIT_QUERIES)
    assert {
        "Pins tracked 14 days or more",
        "Decisions by approver",
        "Rollbacks with evidence",
        "Refused requests",
    } <= set(queries)
    for title, query in queries.items():
        assert query["LogGroupNames"] == [ref(audit)], title
    assert 'event = "rolled_back"' in queries["Rollbacks with evidence"]["QueryString"]
    assert 'event = "refused"' in queries["Refused requests"]["QueryString"]
    assert "by actor" in queries["Decisions by approver"]["QueryString"]
    assert "days_tracked >= 14" in queries["Pins tracked 14 days or more"]["QueryString"]


def insight_rule(template_json: Json, prefix: str) -> Json:
    _, props = only(template_json, "AWS::CloudWatch::InsightRule", prefix)
    assert props["RuleState"] == "ENABLED"
    return json.loads(props["RuleBody"])  # type: ignore[no-any-return]


def json_path(record: Json, path: str) -> Any:
    value: Any = record
    for key in path.removeprefix("$.").split("."):
        value = value[key]
    return value


def test_contributor_insights_counts_json_init_starts_by_function_and_runtime_version(
    template_json: Json,
) -> None:
    rule = insight_rule(template_json, "ObservabilityInitStartByFunction")
    assert rule["LogFormat"] == "JSON" and rule["AggregateOn"] == "Count"
    assert rule["LogGroupNames"] == ["/aws/lambda/*"]
    line = json.dumps(
        {
            "time": "2025-05-01T12:00:00.000Z",
            "type": "platform.initStart",
            "record": {
                "initializationType": "on-demand",
                "phase": "init",
                "runtimeVersion": "python:3.13.v14",
                "runtimeVersionArn": RUNTIME_ARN,
                "functionName": "orders",
                "functionVersion": "$LATEST",
            },
        }
    )
    record = json.loads(line)
    (only_filter,) = rule["Contribution"]["Filters"]
    assert json_path(record, only_filter["Match"]) in only_filter["In"]
    keys = [json_path(record, key) for key in rule["Contribution"]["Keys"]]
    assert keys == ["orders", "$LATEST", "python:3.13.v14"]
    parsed = parse_init_start(line)
    assert parsed is not None and parsed.runtime_version == keys[2]


def test_contributor_insights_counts_text_init_starts_by_runtime_version(
    template_json: Json,
) -> None:
    rule = insight_rule(template_json, "ObservabilityInitStartByRuntimeVersion")
    assert rule["LogFormat"] == "CLF" and rule["LogGroupNames"] == ["/aws/lambda/*"]
    line = f"INIT_START Runtime Version: python:3.13.v14\tRuntime Version ARN: {RUNTIME_ARN}"
    tokens = line.split()  # CLF fields are whitespace-delimited, numbered from 1
    fields = {name: tokens[int(position) - 1] for position, name in rule["Fields"].items()}
    (only_filter,) = rule["Contribution"]["Filters"]
    assert fields[only_filter["Match"]] in only_filter["In"]
    keys = [fields[key] for key in rule["Contribution"]["Keys"]]
    parsed = parse_init_start(line)
    assert parsed is not None
    assert keys == [parsed.runtime_version, parsed.runtime_version_arn]


def test_failed_executions_alarm_pages_oncall(template_json: Json) -> None:
    machine, _ = only(template_json, "AWS::StepFunctions::StateMachine", "Remediation")
    oncall, _ = only(template_json, "AWS::SNS::Topic", "OncallTopic")
    alarm_logical, alarm = only(
        template_json, "AWS::CloudWatch::Alarm", "ObservabilityFailedExecutions"
    )
    assert alarm["AlarmActions"] == [ref(oncall)] and alarm["OKActions"] == [ref(oncall)]
    assert alarm["Threshold"] == 1
    assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert alarm["TreatMissingData"] == "notBreaching"
    stats = {
        query["MetricStat"]["Metric"]["MetricName"]: query["MetricStat"]["Metric"]
        for query in alarm["Metrics"]
        if "MetricStat" in query
    }
    # Not ExecutionsAborted: rollforward aborts executions itself when a pin is lifted.
    assert set(stats) == {"ExecutionsFailed", "ExecutionsTimedOut"}
    for metric in stats.values():
        assert metric["Namespace"] == "AWS/States"
        assert metric["Dimensions"] == [{"Name": "StateMachineArn", "Value": ref(machine)}]
    (expression,) = [q for q in alarm["Metrics"] if "Expression" in q]
    assert expression["ReturnData"] is not False
    ids = {q["Id"] for q in alarm["Metrics"] if "MetricStat" in q}
    assert all(identifier in expression["Expression"] for identifier in ids)
    # The topic policy that enforce_ssl writes replaces SNS's default: the alarm is let in.
    allowed = [
        s
        for spec in resources(template_json, "AWS::SNS::TopicPolicy").values()
        if ref(oncall) in spec["Properties"]["Topics"]
        for s in spec["Properties"]["PolicyDocument"]["Statement"]
        if s["Effect"] == "Allow" and s["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    ]
    stuck_logical, _ = only(template_json, "AWS::CloudWatch::Alarm", "ObservabilityRollbackStuck")
    scan_logical, _ = only(template_json, "AWS::CloudWatch::Alarm", "ObservabilityScanIncomplete")
    assert [s["Condition"]["ArnEquals"]["aws:SourceArn"] for s in allowed] == [
        arn_of(alarm_logical),
        arn_of(stuck_logical),
        arn_of(scan_logical),
    ]


def status_change(status: str, machine_arn: str, error: str | None = None) -> Json:
    return {
        "source": "aws.states",
        "detail-type": "Step Functions Execution Status Change",
        "detail": {"status": status, "stateMachineArn": machine_arn, "error": error, "cause": None},
    }


def execution_rule_pattern(template_json: Json, machine_arn: str) -> EventPattern:
    machine, _ = only(template_json, "AWS::StepFunctions::StateMachine", "Remediation")
    _, rule = only(template_json, "AWS::Events::Rule", "ObservabilityExecutionEndedBadly")
    pattern_json = json.dumps(rule["EventPattern"]).replace(
        json.dumps(ref(machine)), json.dumps(machine_arn)
    )
    return EventPattern.load(pattern_json)


def test_the_execution_status_rule_tells_oncall_which_execution_ended_badly(
    template_json: Json,
) -> None:
    machine, _ = only(template_json, "AWS::StepFunctions::StateMachine", "Remediation")
    oncall, _ = only(template_json, "AWS::SNS::Topic", "OncallTopic")
    _, rule = only(template_json, "AWS::Events::Rule", "ObservabilityExecutionEndedBadly")
    (target,) = rule["Targets"]
    assert target["Arn"] == ref(oncall)
    assert "$.detail.executionArn" in json.dumps(target["InputTransformer"]["InputPathsMap"])
    assert rule["EventPattern"]["detail"]["stateMachineArn"] == [ref(machine)]
    ours = "arn:aws:states:us-east-1:123456789012:stateMachine:Remediation"
    pattern = execution_rule_pattern(template_json, ours)
    for status in ("FAILED", "TIMED_OUT", "SUCCEEDED", "RUNNING"):
        assert pattern.matches_event(status_change(status, ours)) is (status in ALERTING_STATUSES)
    assert not pattern.matches_event(status_change("FAILED", ours + "-somebody-elses"))


@pytest.mark.parametrize(
    ("error", "pages"),
    [
        ("rollforward.Lifted", False),  # a human lifted the pin: the good outcome
        ("rollforward.Deleted", False),
        (None, True),  # someone stopped it in the console
        ("", True),
        ("OperatorStop", True),
        ("Rollforward.Lifted", True),  # prefixes are case-sensitive, as in EventBridge
    ],
)
def test_only_stops_rollforward_did_not_make_page_oncall(
    template_json: Json, error: str | None, pages: bool
) -> None:
    ours = "arn:aws:states:us-east-1:123456789012:stateMachine:Remediation"
    pattern = execution_rule_pattern(template_json, ours)
    assert pattern.matches_event(status_change("ABORTED", ours, error)) is pages


def key_statements_for(template_json: Json, service: str) -> list[Json]:
    _, key = only(template_json, "AWS::KMS::Key", "Key")
    return [
        statement
        for statement in key["KeyPolicy"]["Statement"]
        if service in [as_text(s) for s in listed(statement["Principal"].get("Service", []))]
    ]


def test_the_stack_key_lets_alerting_services_publish_to_the_encrypted_oncall_topic(
    template_json: Json,
) -> None:
    stack = STACK_NAME
    alarms = f"arn:<AWS::Partition>:cloudwatch:<AWS::Region>:<AWS::AccountId>:alarm:{stack}"
    expected = {
        "cloudwatch.amazonaws.com": {
            f"{alarms}-FailedExecutions",
            f"{alarms}-RollbackStuck",
            f"{alarms}-ScanIncomplete",
        },
        "events.amazonaws.com": {
            f"arn:<AWS::Partition>:events:<AWS::Region>:"
            f"<AWS::AccountId>:rule/{stack}-ExecutionEndedBadly"
        },
    }
    for service, source_arns in expected.items():
        statements = key_statements_for(template_json, service)
        for statement in statements:
            assert {"kms:Decrypt", "kms:GenerateDataKey*"} <= set(listed(statement["Action"]))
            assert statement["Condition"]["StringEquals"]["aws:SourceAccount"] == ref(
                "AWS::AccountId"
            )
        sources = {as_text(s["Condition"]["ArnEquals"]["aws:SourceArn"]) for s in statements}
        assert sources == source_arns and len(statements) == len(source_arns), service


def test_the_alarm_and_the_rule_have_the_names_the_policies_expect(template_json: Json) -> None:
    _, alarm = only(template_json, "AWS::CloudWatch::Alarm", "ObservabilityFailedExecutions")
    _, stuck = only(template_json, "AWS::CloudWatch::Alarm", "ObservabilityRollbackStuck")
    _, rule = only(template_json, "AWS::Events::Rule", "ObservabilityExecutionEndedBadly")
    assert as_text(alarm["AlarmName"]) == f"{STACK_NAME}-FailedExecutions"
    assert as_text(stuck["AlarmName"]) == f"{STACK_NAME}-RollbackStuck"
    _, scan = only(template_json, "AWS::CloudWatch::Alarm", "ObservabilityScanIncomplete")
    assert as_text(scan["AlarmName"]) == f"{STACK_NAME}-ScanIncomplete"
    assert as_text(rule["Name"]) == f"{STACK_NAME}-ExecutionEndedBadly"


def test_the_rollback_stuck_alarm_pages_oncall_on_the_canarys_metric(template_json: Json) -> None:
    oncall, _ = only(template_json, "AWS::SNS::Topic", "OncallTopic")
    _, alarm = only(template_json, "AWS::CloudWatch::Alarm", "ObservabilityRollbackStuck")
    assert alarm["AlarmActions"] == [ref(oncall)] and alarm["OKActions"] == [ref(oncall)]
    # What handlers/canary.py publishes (EMF, Powertools' service dimension), an hour at most
    # apart while a rollback is stuck (the backoff's cap).
    (query,) = alarm["Metrics"]
    stat = query["MetricStat"]
    assert (stat["Metric"]["Namespace"], stat["Metric"]["MetricName"]) == (
        "rollforward",
        "RollbackStuck",
    )
    assert stat["Metric"]["Dimensions"] == [{"Name": "service", "Value": "rollforward"}]
    assert (stat["Stat"], stat["Period"], alarm["Threshold"]) == ("Sum", 3600, 1)
    assert alarm["TreatMissingData"] == "notBreaching"


def test_a_scan_cycle_that_left_targets_unscanned_pages_oncall(template_json: Json) -> None:
    oncall, _ = only(template_json, "AWS::SNS::Topic", "OncallTopic")
    _, alarm = only(template_json, "AWS::CloudWatch::Alarm", "ObservabilityScanIncomplete")
    assert alarm["AlarmActions"] == [ref(oncall)] and alarm["OKActions"] == [ref(oncall)]
    # What handlers/scan.py publishes once a cycle (EMF, Powertools' service dimension).
    stats = {
        q["Id"]: q["MetricStat"] for q in alarm["Metrics"] if "MetricStat" in q
    }  # fmt: skip
    (expression,) = [q["Expression"] for q in alarm["Metrics"] if "Expression" in q]
    assert expression == "FILL(failed, 0) + FILL(unreadable, 0)"
    assert {i: (s["Metric"]["MetricName"], s["Stat"], s["Period"]) for i, s in stats.items()} == {
        "failed": ("ScanTargetsFailed", "Maximum", 3600),
        "unreadable": ("ScanOrganizationUnreadable", "Sum", 3600),
    }
    assert all(
        s["Metric"]["Dimensions"] == [{"Name": "service", "Value": "rollforward"}]
        and s["Metric"]["Namespace"] == "rollforward"
        for s in stats.values()
    )
    assert (alarm["Threshold"], alarm["TreatMissingData"]) == (1, "notBreaching")


def test_cloudwatch_logs_may_use_the_key_only_for_this_accounts_log_groups(
    template_json: Json,
) -> None:
    (statement,) = [
        s for s in key_statements_for(template_json, "logs.<AWS::Region>.amazonaws.com")
    ]
    context = statement["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"]
    assert as_text(context) == (
        "arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:*"
    )


def test_no_service_principal_may_use_the_key_unconditionally(template_json: Json) -> None:
    _, key = only(template_json, "AWS::KMS::Key", "Key")
    for statement in key["KeyPolicy"]["Statement"]:
        if "Service" in statement["Principal"]:
            assert statement.get("Condition"), statement


def test_eventbridge_may_publish_to_topics_only_for_this_stacks_rule(template_json: Json) -> None:
    statements = [
        (spec["Properties"]["Topics"], s)
        for spec in resources(template_json, "AWS::SNS::TopicPolicy").values()
        for s in spec["Properties"]["PolicyDocument"]["Statement"]
        if s["Effect"] == "Allow"
        and "events.amazonaws.com" in listed(s["Principal"].get("Service", []))
    ]
    oncall, _ = only(template_json, "AWS::SNS::Topic", "OncallTopic")
    assert [topics for topics, _ in statements] == [[ref(oncall)]]
    ((_, statement),) = statements
    assert as_text(statement["Condition"]["ArnEquals"]["aws:SourceArn"]) == (
        "arn:<AWS::Partition>:events:<AWS::Region>:<AWS::AccountId>:rule/"
        f"{STACK_NAME}-ExecutionEndedBadly"
    )
    assert statement["Condition"]["StringEquals"]["aws:SourceAccount"] == ref("AWS::AccountId")


def test_roles_allow_the_calls_their_handlers_make_when_a_pin_ends(template_json: Json) -> None:
    """ApprovalRequest answers its own callback when the pin ended meanwhile
    (`sfn.send_task_success`); the scan closes lifted pins, which tells the owner
    (`sns.publish`). Both were missing: on AWS those calls were AccessDenied."""

    def actions(role_prefix: str) -> set[str]:
        return {a for s in role_statements(template_json, role_prefix) for a in listed(s["Action"])}

    assert "states:SendTaskSuccess" in actions("ApprovalRequestRole")
    assert "sns:Publish" in actions("ScanRole")
