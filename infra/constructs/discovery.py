"""The one place the CLI and the console discover a deployment, in AWS and in the embedded AWS
alike: an SSM parameter named after the stack (`rollforward.model.discovery_parameter`) holding
the tables, the state machine, the decision API, the audit trail and the topics. A new resource
a client must find is added here (and read in `cli/aws.py`)."""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_ssm as ssm
from rollforward.model import discovery_parameter

from infra.constructs.api import STAGE, DecisionApi
from infra.constructs.functions import EntryFunctions, TaskFunctions
from infra.constructs.notices import Notices
from infra.constructs.remediation import Remediation
from infra.constructs.scan_machine import ScanMachine
from infra.constructs.storage import Storage


class Discovery:
    """The discovery parameter, in the stack's own scope."""

    def __init__(
        self,
        stack: Stack,
        *,
        storage: Storage,
        notices: Notices,
        remediation: Remediation,
        api: DecisionApi,
        tasks: TaskFunctions,
        entries: EntryFunctions,
        scan_machine: ScanMachine,
    ) -> None:
        self.parameter = ssm.StringParameter(
            stack,
            "Discovery",
            parameter_name=discovery_parameter(stack.stack_name),
            description="rollforward: where the ledger, approvals, decision API and audit trail are",
            string_value=stack.to_json_string(
                {
                    "ledger_table": storage.ledger.table_name,
                    "approvals_table": storage.approvals.table_name,
                    "state_machine_arn": remediation.state_machine.state_machine_arn,
                    "decision_api_id": api.rest_api.rest_api_id,
                    "decision_api_stage": STAGE,
                    "decision_api_url": api.decisions_url,
                    "audit_log_group": storage.audit_log_group.log_group_name,
                    "topics": {k: t.topic_arn for k, t in notices.topics.items()},
                    "scan_function": entries.scan.function_name,
                    # `rollforward scan --status`: the cycles over every (account, region).
                    "scan_state_machine_arn": scan_machine.state_machine.state_machine_arn,
                    "tracking_function": tasks.tracking.function_name,
                }
            ),
        )
