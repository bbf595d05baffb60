"""How operators and auditors watch rollforward in CloudWatch (docs/design.md §3).

- a dashboard of the EMF metrics the handlers publish with Powertools Metrics (namespace and
  `service` dimension `rollforward`), the remediation executions and the functions' errors;
- saved Logs Insights queries over the audit trail;
- Contributor Insights rules counting cold starts (INIT_START) by runtime version across the
  fleet's Lambda log groups;
- an alarm and an EventBridge rule that tell on-call when a remediation execution ends badly.

Contributor Insights and Lambda's two log formats: a rule reads either JSON or CLF
(whitespace-delimited) logs, never both, and can only key on fields *in the log event*.
- JSON log format: `{"type": "platform.initStart", "record": {"functionName",
  "functionVersion", "runtimeVersion", "runtimeVersionArn", ...}}` carries the function, so
  `init_start_by_function` counts cold starts per function, version and runtime version.
- Text format: `INIT_START Runtime Version: python:3.13.v14<TAB>Runtime Version ARN: arn:...`
  names no function (it is only in the log group name, which a rule cannot key on), so
  `init_start_by_runtime_version` (AWS's documented CLF rule: fields 1, 4, 8) counts cold starts
  per runtime version across the fleet, without attribution.
Each rule ignores the other format's lines. Functions logging to a custom log group outside
`fleet_log_group_prefixes` are not seen (at most 20 prefixes; `*` only as a suffix). Every log
event in the matched groups is billed as analysed, so narrow the prefixes in large fleets. The
canary does not depend on these rules: it reads INIT_START lines itself (`rollforward.canary.initstart`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

import jsii
from aws_cdk import Aws, Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk.interfaces import aws_events as event_refs
from constructs import Construct
from rollforward.model import STOP_ERROR_PREFIX

# Where Powertools Metrics puts rollforward's EMF metrics (POWERTOOLS_METRICS_NAMESPACE and the
# default `service` dimension from POWERTOOLS_SERVICE_NAME).
METRICS_NAMESPACE = "rollforward"
SERVICE = "rollforward"

# Execution endings that tell on-call: failures rollforward did not intend. ABORTED is also how
# rollforward itself ends an execution when a pin closes outside the workflow (Tracker.close:
# lifted, deleted; StopExecution with an `error` starting with STOP_ERROR_PREFIX), which is the
# good outcome: such stops never page. Any other stop (a human's StopExecution) still does.
ALERTING_STATUSES = ("FAILED", "TIMED_OUT")
# The alarms that page the on-call topic, named `<stack>-<alarm>` (the key policy names each).
ONCALL_ALARMS = ("FailedExecutions", "RollbackStuck", "ScanIncomplete")


def execution_ended_badly_detail(state_machine_arn: str) -> dict[str, object]:
    """The `detail` of the EventBridge pattern that pages on-call for an execution ending.

    "Step Functions Execution Status Change" events carry `error` and `cause` (null when the
    stop gave none); a StopExecution without an error is matched by `null`.
    """
    return {
        "stateMachineArn": [state_machine_arn],
        "$or": [
            {"status": list(ALERTING_STATUSES)},
            {
                "status": ["ABORTED"],
                "error": [None, {"anything-but": {"prefix": STOP_ERROR_PREFIX}}],
            },
        ],
    }


FLEET_LOG_GROUP_PREFIXES = ("/aws/lambda/",)
MAX_LOG_GROUP_PATTERNS = 20  # Contributor Insights' limit on LogGroupNames

# Audit events after which a pin is no longer tracked.
CLOSING_EVENTS = ("resolved", "lifted", "deleted")
DECISION_EVENTS = ("approved", "rejected", "snoozed", "exempted")

# Saved Logs Insights queries over the audit trail, by display name. Logs Insights has no clock
# function, so "days tracked" runs from a pin's first audit record to its latest one in the
# query's time range: exact for closed pins, a lower bound for open ones (the escalation ladder
# writes a stage_notice at each rung, so an open pin past a rung shows at least that age).
AUDIT_QUERIES: dict[str, str] = {
    "Pins tracked 14 days or more": "\n".join(
        [
            "filter pin_id like /^arn:.+#/",
            "| fields toMillis(@timestamp) as at_ms",
            "| stats min(at_ms) as first_ms, max(at_ms) as last_ms,"
            " latest(event) as last_event, count(*) as records by pin_id",
            "| fields pin_id, fromMillis(first_ms) as first_seen, last_event,"
            " (last_ms - first_ms) / 86400000 as days_tracked, records",
            "| filter days_tracked >= 14",
            "| sort days_tracked desc",
        ]
    ),
    "Decisions by approver": "\n".join(
        [
            "filter event in " + json.dumps(list(DECISION_EVENTS)),
            "| stats count(*) as decisions, latest(@timestamp) as last_decision,"
            " latest(pin_id) as last_pin, latest(details.reason) as last_reason by actor, event",
            "| sort decisions desc",
        ]
    ),
    "Rollbacks with evidence": "\n".join(
        [
            'filter event = "rolled_back"',
            "| fields @timestamp, pin_id, actor, details.reason, @message",
            "| sort @timestamp desc",
            "| limit 1000",
        ]
    ),
    "Refused requests": "\n".join(
        [
            'filter event = "refused"',
            "| fields @timestamp, actor, details.request, details.decision,"
            " details.approval_id, pin_id, details.reason",
            "| sort @timestamp desc",
            "| limit 1000",
        ]
    ),
}


def init_start_by_function_rule(log_group_patterns: Sequence[str]) -> dict[str, object]:
    """Cold starts per function, function version and runtime version (JSON log format)."""
    return {
        "Schema": {"Name": "CloudWatchLogRule", "Version": 1},
        "LogGroupNames": list(log_group_patterns),
        "LogFormat": "JSON",
        "Contribution": {
            "Keys": [
                "$.record.functionName",
                "$.record.functionVersion",
                "$.record.runtimeVersion",
            ],
            "Filters": [{"Match": "$.type", "In": ["platform.initStart"]}],
        },
        "AggregateOn": "Count",
    }


def init_start_by_runtime_version_rule(log_group_patterns: Sequence[str]) -> dict[str, object]:
    """Cold starts per runtime version and ARN (text log format, which names no function)."""
    return {
        "Schema": {"Name": "CloudWatchLogRule", "Version": 1},
        "LogGroupNames": list(log_group_patterns),
        "LogFormat": "CLF",
        "Fields": {"1": "eventType", "4": "runtimeVersion", "8": "runtimeVersionArn"},
        "Contribution": {
            "Keys": ["runtimeVersion", "runtimeVersionArn"],
            "Filters": [{"Match": "eventType", "In": ["INIT_START"]}],
        },
        "AggregateOn": "Count",
    }


class Observability(Construct):
    """Dashboard, saved audit queries, INIT_START Contributor Insights and failure alerting.

    `key` is the customer managed key of `oncall_topic`: CloudWatch alarms and EventBridge can
    only publish to an encrypted topic when its key policy lets them use the key.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        audit_log_group: logs.ILogGroup,
        state_machine: sfn.IStateMachine,
        functions: Mapping[str, lambda_.IFunction],
        key: kms.IKey,
        oncall_topic: sns.ITopic,
        scan_machine: sfn.IStateMachine | None = None,
        fleet_log_group_prefixes: Sequence[str] = FLEET_LOG_GROUP_PREFIXES,
    ) -> None:
        super().__init__(scope, construct_id)
        if not 1 <= len(fleet_log_group_prefixes) <= MAX_LOG_GROUP_PATTERNS:
            raise ValueError(
                f"Contributor Insights takes 1 to {MAX_LOG_GROUP_PATTERNS} log group patterns"
            )
        stack_name = Stack.of(self).stack_name
        self._state_machine = state_machine
        self._scan_machine = scan_machine

        self.queries: dict[str, logs.CfnQueryDefinition] = {
            title: logs.CfnQueryDefinition(
                self,
                "Query" + "".join(word.capitalize() for word in title.split() if word.isalpha()),
                # A "/" makes a folder in the console's saved-queries list.
                name=f"{stack_name}/{title}",
                query_string=query,
                log_group_names=[audit_log_group.log_group_name],
            )
            for title, query in AUDIT_QUERIES.items()
        }

        patterns = [f"{prefix.rstrip('*')}*" for prefix in fleet_log_group_prefixes]
        self.init_start_by_function = cloudwatch.CfnInsightRule(
            self,
            "InitStartByFunction",
            rule_name=f"{stack_name}-InitStartByFunction",
            rule_state="ENABLED",
            rule_body=json.dumps(init_start_by_function_rule(patterns)),
        )
        self.init_start_by_runtime_version = cloudwatch.CfnInsightRule(
            self,
            "InitStartByRuntimeVersion",
            rule_name=f"{stack_name}-InitStartByRuntimeVersion",
            rule_state="ENABLED",
            rule_body=json.dumps(init_start_by_runtime_version_rule(patterns)),
        )

        # Named, so that the key and topic policies can name them in aws:SourceArn without a
        # reference (the alarm and the rule depend on the topic, which depends on the key).
        names = {alarm: f"{stack_name}-{alarm}" for alarm in ONCALL_ALARMS}
        rule_name = f"{stack_name}-ExecutionEndedBadly"
        rule_arn = f"arn:{Aws.PARTITION}:events:{Aws.REGION}:{Aws.ACCOUNT_ID}:rule/{rule_name}"
        self._allow_key_use(
            key,
            alarm_arns={
                alarm: f"arn:{Aws.PARTITION}:cloudwatch:{Aws.REGION}:{Aws.ACCOUNT_ID}:alarm:{name}"
                for alarm, name in names.items()
            },
            rule_arn=rule_arn,
        )
        self.failed_executions_alarm = self._failed_executions_alarm(
            oncall_topic, names["FailedExecutions"]
        )
        self.rollback_stuck_alarm = self._rollback_stuck_alarm(oncall_topic, names["RollbackStuck"])
        self.scan_incomplete_alarm = self._scan_incomplete_alarm(
            oncall_topic, names["ScanIncomplete"]
        )
        self.failed_executions_rule = events.Rule(
            self,
            "ExecutionEndedBadly",
            rule_name=rule_name,
            description="rollforward: a remediation execution failed, timed out or was stopped "
            "by someone other than rollforward",
            event_pattern=events.EventPattern(
                source=["aws.states"],
                detail_type=["Step Functions Execution Status Change"],
                detail=execution_ended_badly_detail(state_machine.state_machine_arn),
            ),
            targets=[
                _TopicTarget(
                    oncall_topic,
                    events.RuleTargetInput.from_object(
                        {
                            "alert": "rollforward remediation execution ended badly",
                            "status": events.EventField.from_path("$.detail.status"),
                            "error": events.EventField.from_path("$.detail.error"),
                            "execution_arn": events.EventField.from_path("$.detail.executionArn"),
                            "started": events.EventField.from_path("$.detail.startDate"),
                            "stopped": events.EventField.from_path("$.detail.stopDate"),
                            "next_step": "Read the execution's history and the pin's audit "
                            "records; rollforward resumes tracking on the next scan.",
                        }
                    ),
                )
            ],
        )
        # What targets.SnsTopic would grant, narrowed to this rule: EventBridge publishes to the
        # on-call topic only on behalf of this stack's rule (confused-deputy protection).
        oncall_topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowExecutionEndedBadlyRule",
                principals=[iam.ServicePrincipal("events.amazonaws.com")],
                actions=["sns:Publish"],
                resources=[oncall_topic.topic_arn],
                conditions={
                    "ArnEquals": {"aws:SourceArn": rule_arn},
                    "StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID},
                },
            )
        )
        self.dashboard = self._dashboard(audit_log_group, functions)

    @staticmethod
    def _allow_key_use(key: kms.IKey, *, alarm_arns: Mapping[str, str], rule_arn: str) -> None:
        """SNS encrypts with the topic's key on behalf of the publishing service, so the key
        policy must name CloudWatch (alarm actions) and EventBridge (rule targets), as AWS
        documents it, each only on behalf of this stack's alarm or rule (aws:SourceArn and
        aws:SourceAccount: confused-deputy protection). Who may publish at all is the topic
        policy's business."""
        sources = [
            (f"Allow{alarm}AlarmToUseTheKey", "cloudwatch.amazonaws.com", arn)
            for alarm, arn in alarm_arns.items()
        ]
        sources.append(
            ("AllowExecutionEndedBadlyRuleToUseTheKey", "events.amazonaws.com", rule_arn)
        )
        for sid, service, source_arn in sources:
            key.add_to_resource_policy(
                iam.PolicyStatement(
                    sid=sid,
                    principals=[iam.ServicePrincipal(service)],
                    actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                    resources=["*"],  # in a key policy, "*" is this key
                    conditions={
                        "ArnEquals": {"aws:SourceArn": source_arn},
                        "StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID},
                    },
                )
            )

    def _failed_executions_alarm(self, topic: sns.ITopic, alarm_name: str) -> cloudwatch.Alarm:
        """Failed and timed-out executions. Not ExecutionsAborted: the metric cannot tell
        rollforward's own stops (a lifted or deleted pin) from anyone else's; the rule does."""
        period = Duration.minutes(5)
        machine = self._state_machine
        endings = cloudwatch.MathExpression(
            expression="FILL(failed, 0) + FILL(timed_out, 0)",
            using_metrics={
                "failed": machine.metric_failed(period=period, statistic="Sum"),
                "timed_out": machine.metric_timed_out(period=period, statistic="Sum"),
            },
            period=period,
            label="Executions failed or timed out",
        )
        alarm = endings.create_alarm(
            self,
            "FailedExecutions",
            alarm_name=alarm_name,
            alarm_description=(
                "rollforward remediation executions failed or timed out in the last 5 minutes. "
                "The EventBridge rule on the same topic names each execution, and also pages "
                "for executions stopped by anyone but rollforward."
            ),
            threshold=1,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        # The topic policy CDK writes for enforce_ssl replaces SNS's default one, which is what
        # lets same-account CloudWatch alarms publish: allow this alarm explicitly.
        topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowFailedExecutionsAlarm",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["sns:Publish"],
                resources=[topic.topic_arn],
                conditions={
                    "ArnEquals": {"aws:SourceArn": alarm.alarm_arn},
                    "StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID},
                },
            )
        )
        action = cloudwatch_actions.SnsAction(topic)
        alarm.add_alarm_action(action)
        alarm.add_ok_action(action)
        return alarm

    def _rollback_stuck_alarm(self, topic: sns.ITopic, alarm_name: str) -> cloudwatch.Alarm:
        """A canary's Rollback failed `rollback_alarm_after` times in a row and goes on trying
        (the canary handler publishes RollbackStuck at each further failure, at most an hour
        apart: hence the hour's period). OK again once no rollback is stuck for an hour."""
        return self._pages_oncall(
            self._metric("RollbackStuck", "Sum", label="Failed rollbacks past the threshold"),
            "RollbackStuck",
            alarm_name,
            "A rollforward canary cannot finish rolling a function back: its Rollback keeps "
            "failing and retries with growing waits. The on-call notice names the function; "
            "its audit records say what failed.",
            topic,
        )

    def _scan_incomplete_alarm(self, topic: sns.ITopic, alarm_name: str) -> cloudwatch.Alarm:
        """The safety net has a hole: a scan cycle left targets unscanned (a member whose role
        is gone, AWS refusing) or could not list the Organization (the hub then scans only its
        own account). Both are counted once a cycle, hourly; OK again after a whole cycle."""
        incomplete = cloudwatch.MathExpression(
            expression="FILL(failed, 0) + FILL(unreadable, 0)",
            using_metrics={
                "failed": self._metric("ScanTargetsFailed", "Maximum", label="Targets failed"),
                "unreadable": self._metric(
                    "ScanOrganizationUnreadable", "Sum", label="Organization refused"
                ),
            },
            period=Duration.hours(1),
            label="Targets the cycle could not scan, or the Organization refused",
        )
        return self._pages_oncall(
            incomplete,
            "ScanIncomplete",
            alarm_name,
            "A rollforward scan cycle did not cover every (account, region): targets failed, "
            "or the Organization refused the hub's listing. `rollforward scan --status` names "
            "the targets and the reason; pins there go undetected until it is fixed.",
            topic,
        )

    def _pages_oncall(
        self,
        signal: cloudwatch.IMetric,
        construct_id: str,
        alarm_name: str,
        description: str,
        topic: sns.ITopic,
    ) -> cloudwatch.Alarm:
        """An alarm on `signal` >= 1 in its period (no data: not breaching) that publishes its
        ALARM and OK to the on-call topic, which lets only it in (the topic policy enforce_ssl
        writes replaces SNS's default)."""
        alarm = cloudwatch.Alarm(
            self,
            construct_id,
            metric=signal,
            alarm_name=alarm_name,
            alarm_description=description,
            threshold=1,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid=f"Allow{construct_id}Alarm",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["sns:Publish"],
                resources=[topic.topic_arn],
                conditions={
                    "ArnEquals": {"aws:SourceArn": alarm.alarm_arn},
                    "StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID},
                },
            )
        )
        action = cloudwatch_actions.SnsAction(topic)
        alarm.add_alarm_action(action)
        alarm.add_ok_action(action)
        return alarm

    def _metric(
        self,
        name: str,
        statistic: str,
        *,
        label: str,
        period: Duration | None = None,
    ) -> cloudwatch.Metric:
        return cloudwatch.Metric(
            namespace=METRICS_NAMESPACE,
            metric_name=name,
            dimensions_map={"service": SERVICE},
            statistic=statistic,
            period=period or Duration.hours(1),
            label=label,
        )

    @staticmethod
    def _search(
        metric_name: str, dimension: str, statistic: str, period: Duration
    ) -> cloudwatch.MathExpression:
        """Every value of `dimension` the handlers publish, without listing them here."""
        return cloudwatch.MathExpression(
            expression=(
                f"SEARCH('{{{METRICS_NAMESPACE},{dimension},service}} "
                f"MetricName=\"{metric_name}\"', '{statistic}', {int(period.to_seconds())})"
            ),
            using_metrics={},
            period=period,
            label="",
        )

    def _dashboard(
        self, audit_log_group: logs.ILogGroup, functions: Mapping[str, lambda_.IFunction]
    ) -> cloudwatch.Dashboard:
        hour, five_minutes, day = Duration.hours(1), Duration.minutes(5), Duration.days(1)
        machine = self._state_machine
        oldest = self._metric("OldestPinAgeDays", "Maximum", label="Oldest pin (days)")
        dashboard = cloudwatch.Dashboard(
            self,
            "Dashboard",
            dashboard_name=f"{Stack.of(self).stack_name}-{Aws.REGION}",
            default_interval=Duration.days(14),
        )
        dashboard.add_widgets(
            cloudwatch.SingleValueWidget(
                title="Now",
                metrics=[
                    self._metric("PinsOpen", "Maximum", label="Functions pinned"),
                    oldest,
                    self._metric("PendingApprovals", "Maximum", label="Pending approvals"),
                ],
                width=12,
                height=4,
            ),
            cloudwatch.GraphWidget(
                title="Oldest pin age (days)",
                left=[oldest],
                left_annotations=[
                    cloudwatch.HorizontalAnnotation(value=14, label="default ladder pages on-call")
                ],
                width=12,
                height=4,
            ),
        )
        dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Pins by stage",
                left=[self._search("PinsByStage", "stage", "Maximum", hour)],
                stacked=True,
                width=8,
            ),
            cloudwatch.GraphWidget(
                title="Pending approvals",
                left=[self._metric("PendingApprovals", "Maximum", label="Pending approvals")],
                width=8,
            ),
            cloudwatch.GraphWidget(
                title="Detection",
                left=[
                    self._metric("PinsOpened", "Sum", label="Pins opened", period=day),
                    self._metric(
                        "RejectedEvents", "Sum", label="Unusable CloudTrail events", period=day
                    ),
                ],
                width=8,
            ),
        )
        dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Canary outcomes (per day)",
                left=[self._search("CanaryOutcomes", "outcome", "Sum", day)],
                stacked=True,
                width=8,
            ),
            cloudwatch.GraphWidget(
                title="Remediation executions",
                left=[
                    machine.metric_succeeded(period=five_minutes, statistic="Sum"),
                    machine.metric_failed(period=five_minutes, statistic="Sum"),
                    machine.metric_aborted(period=five_minutes, statistic="Sum"),
                    machine.metric_timed_out(period=five_minutes, statistic="Sum"),
                ],
                width=8,
            ),
            cloudwatch.GraphWidget(
                title="rollforward function errors",
                left=[
                    function.metric_errors(period=five_minutes, statistic="Sum", label=name)
                    for name, function in functions.items()
                ],
                width=8,
            ),
        )
        dashboard.add_widgets(
            cloudwatch.AlarmStatusWidget(
                alarms=[self.failed_executions_alarm, self.rollback_stuck_alarm], width=6
            ),
            cloudwatch.LogQueryWidget(
                title="Latest audit records",
                log_group_names=[audit_log_group.log_group_name],
                query_lines=[
                    "fields @timestamp, event, pin_id, actor",
                    "sort @timestamp desc",
                    "limit 50",
                ],
                width=18,
                height=8,
            ),
        )
        # The shared-responsibility table (handlers/posture.py, daily): one line per row.
        dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Posture: versions whose responsibility is unmet, per row",
                left=[self._search("PostureUnmet", "Row", "Maximum", day)],
                width=8,
            ),
            cloudwatch.GraphWidget(
                title="Posture: versions per row (Auto, FunctionUpdate, Manual, image)",
                left=[self._search("PostureFunctions", "Row", "Maximum", day)],
                width=8,
            ),
            cloudwatch.GraphWidget(
                title="Posture: how long the oldest unmet version has been unmet, per row",
                left=[self._search("PostureOldestUnmetSeconds", "Row", "Maximum", day)],
                left_y_axis=cloudwatch.YAxisProps(label="seconds", show_units=False),
                width=8,
            ),
        )
        dashboard.add_widgets(*self._scan_widgets())
        return dashboard

    def _scan_widgets(self) -> list[cloudwatch.IWidget]:
        """The hourly scan cycle over every (account, region) (handlers/scan.py `report_cycle`,
        one data point per cycle): its coverage, its length and targets, what it spent of the
        shared buckets — beside `rollforward scan --status`, which names the targets."""
        hour = Duration.hours(1)
        coverage = self._metric("ScanCycleCoverage", "Minimum", label="Coverage (%)")
        cycle = [
            self._metric("ScanTargets", "Maximum", label="Targets"),
            self._metric("ScanTargetsFailed", "Maximum", label="Targets failed"),
            self._metric("ScanCyclesSkipped", "Sum", label="Cycles skipped (earlier one running)"),
            self._metric(
                "ScanOrganizationUnreadable", "Sum", label="Cycles the Organization refused"
            ),
        ]
        if self._scan_machine is not None:
            machine = self._scan_machine
            cycle += [
                machine.metric_failed(period=hour, statistic="Sum", label="Cycles failed"),
                machine.metric_timed_out(period=hour, statistic="Sum", label="Cycles timed out"),
            ]
        return [
            cloudwatch.GraphWidget(
                title="Scan cycle: coverage (targets with every phase run, %)",
                left=[coverage],
                left_y_axis=cloudwatch.YAxisProps(min=0, max=100),
                left_annotations=[cloudwatch.HorizontalAnnotation(value=100, label="every target")],
                width=8,
            ),
            cloudwatch.GraphWidget(
                title="Scan cycle: length (s) and targets",
                left=[self._metric("ScanCycleSeconds", "Maximum", label="Cycle length (s)")],
                right=cycle,
                left_annotations=[cloudwatch.HorizontalAnnotation(value=3600, label="an hour")],
                width=8,
            ),
            cloudwatch.GraphWidget(
                title="Scan cycle: progress (per 5 minutes), shared-bucket calls and 429s",
                left=[
                    self._metric(
                        "ScanProgressCalls",
                        "Sum",
                        label="Shared-bucket calls",
                        period=Duration.minutes(5),
                    ),
                    self._metric("ControlPlaneThrottles", "Sum", label="429s (per cycle)"),
                ],
                right=[
                    self._metric(
                        "ScanProgressFunctions",
                        "Sum",
                        label="Functions scanned",
                        period=Duration.minutes(5),
                    ),
                ],
                width=8,
            ),
        ]


@jsii.implements(events.IRuleTarget)
class _TopicTarget:
    """An SNS topic as a rule target, without the unconditional `events.amazonaws.com` publish
    grant that targets.SnsTopic writes into the topic policy (the caller grants it, narrowed)."""

    def __init__(self, topic: sns.ITopic, message: events.RuleTargetInput) -> None:
        self._topic = topic
        self._message = message

    # Parameter names as IRuleTarget.bind declares them (a Protocol matches them by name).
    def bind(self, rule: event_refs.IRuleRef, id: str | None = None) -> events.RuleTargetConfig:
        return events.RuleTargetConfig(arn=self._topic.topic_arn, input=self._message)
