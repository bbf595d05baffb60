"""Who may do what: every grant beyond a function's own log group, in one place, so that a
reviewer (and `tests/infra/test_iam_crosscheck.py`, against the calls the code makes) reads the
whole of rollforward's IAM together. Each wildcard is acknowledged where it is granted.

Least privilege, by function:
- Tracking, ApprovalRequest, Detect, Scan: the ledger, the audit trail, the topics, read-only
  Get*/List* on the account's functions; the approvals table for the first two (and Decision).
- Decision: the ledger, approvals, the audit trail, GetRuntimeManagementConfig, SendTaskSuccess.
- Detect and Scan alone start and stop executions; Tracking starts only its own successor.
- Canary: the only function that changes the fleet (`grant_canary`).
- Posture: reads, the owner topic, the ledger and StartExecution for the FunctionUpdate
  items it opens, and invoking itself (`grant_posture`).
"""

from __future__ import annotations

from aws_cdk import Aws, Stack
from aws_cdk import aws_iam as iam

from infra.constructs import (
    acknowledge,
    executions_wildcard_finding,
    qualified_arn_wildcard_finding,
    role_of,
)
from infra.constructs.functions import EntryFunctions, TaskFunctions
from infra.constructs.notices import Notices
from infra.constructs.remediation import Remediation
from infra.constructs.storage import Storage

FUNCTION_ARN_PATTERN = f"arn:{Aws.PARTITION}:lambda:{Aws.REGION}:{Aws.ACCOUNT_ID}:function:*"

READ_FUNCTIONS_FINDING = (
    "IAM5[Resource::arn:<AWS::Partition>:lambda:<AWS::Region>:<AWS::AccountId>:function:*]"
)


def read_functions_statement() -> iam.PolicyStatement:
    """Read-only Get*/List* on every function of the account and region."""
    return iam.PolicyStatement(
        actions=[
            "lambda:GetFunction",
            "lambda:GetFunctionConfiguration",
            "lambda:GetRuntimeManagementConfig",
            "lambda:ListTags",
            "lambda:ListAliases",
            "lambda:ListVersionsByFunction",
        ],
        resources=[FUNCTION_ARN_PATTERN],
    )


def grant_all(
    *,
    storage: Storage,
    notices: Notices,
    remediation: Remediation,
    tasks: TaskFunctions,
    entries: EntryFunctions,
) -> None:
    """Every grant of the stack, in an order that keeps the synthesized policies stable."""
    read_functions = read_functions_statement()
    for fn in (
        tasks.tracking,
        tasks.approval_request,
        tasks.decision,
        entries.detect,
        entries.scan,
        entries.posture,
    ):
        storage.ledger.grant_read_write_data(fn)
        storage.audit_log_group.grant_write(fn)
        for action in ("kms:ReEncrypt*", "kms:GenerateDataKey*"):
            acknowledge(
                role_of(fn),
                f"IAM5[Action::{action}]",
                "CDK's grants for the KMS-encrypted tables and topics: the ReEncrypt* and "
                "GenerateDataKey* action families on the stack's own key ARN only.",
            )
    # The decision function only records decisions: it reads only runtime settings (below).
    for fn in (tasks.tracking, tasks.approval_request, entries.detect, entries.scan):
        fn.add_to_role_policy(read_functions)
        acknowledge(
            role_of(fn),
            READ_FUNCTIONS_FINDING,
            "rollforward watches every function of the account and region: read-only "
            "Get*/List* actions on function:*; no mutating action is granted on a wildcard.",
        )
    for fn in (tasks.tracking, tasks.approval_request, tasks.decision):
        storage.approvals.grant_read_write_data(fn)
    # A decision re-reads the live setting: a lifted or deleted pin is refused, not approved.
    tasks.decision.add_to_role_policy(
        iam.PolicyStatement(
            actions=["lambda:GetRuntimeManagementConfig"], resources=[FUNCTION_ARN_PATTERN]
        )
    )
    acknowledge(
        role_of(tasks.decision),
        READ_FUNCTIONS_FINDING,
        "The decision API reads one action, GetRuntimeManagementConfig, of the function an "
        "approval names (any function of this account and region may be pinned).",
    )
    for topic in notices.topics.values():
        # The scan closes lifted pins, and closing one tells its owner (Tracker.close).
        for fn in (tasks.tracking, tasks.approval_request, entries.detect, entries.scan):
            topic.grant_publish(fn)
    _grant_executions(remediation, tasks, entries)
    _grant_scan(tasks, entries)
    grant_canary(storage, notices, tasks)
    grant_posture(notices, remediation, tasks, entries, read_functions)


def _grant_executions(
    remediation: Remediation, tasks: TaskFunctions, entries: EntryFunctions
) -> None:
    """Only Detect and Scan, which run outside any execution, start and stop executions
    (STATE_MACHINE_ARN is theirs alone). Tracking, ApprovalRequest and the canary are the
    machine's own tasks: when their live check finds the pin lifted they close it and return
    "closed", and their execution ends itself (SUCCEEDED). A task that stopped its own
    execution would lose its result and end it ABORTED.
    Detect starts and stops; the scan also lists and describes (its dead-execution phase).
    tests/infra/test_iam_crosscheck.py holds these to the calls the code makes."""
    state_machine = remediation.state_machine
    execution_actions = (
        (entries.detect, ("states:StopExecution",)),
        (entries.scan, ("states:DescribeExecution", "states:StopExecution")),
    )
    # Continue-as-new: tracking starts the successor of its own execution (by name), and
    # stops that successor when the ledger names another execution (superseded).
    tasks.tracking.add_to_role_policy(
        iam.PolicyStatement(actions=["states:StartExecution"], resources=[remediation.arn_by_name])
    )
    tasks.tracking.add_to_role_policy(
        iam.PolicyStatement(
            actions=["states:StopExecution"],
            resources=[
                f"arn:{Aws.PARTITION}:states:{Aws.REGION}:{Aws.ACCOUNT_ID}:execution:"
                f"{remediation.name}:*"
            ],
        )
    )
    acknowledge(
        role_of(tasks.tracking),
        "IAM5[Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:"
        f"execution:{remediation.name}:*]",
        "Stop the successor it just started (continue-as-new, superseded): its name is "
        "derived from the pin's execution at run time.",
    )
    for fn, actions in execution_actions:
        state_machine.grant_start_execution(fn)
        if fn is entries.scan:
            # Not grant_read: it adds states:ListActivities and DescribeActivity on "*".
            state_machine.grant(fn, "states:ListExecutions")
        state_machine.grant_execution(fn, *actions)
        acknowledge(
            role_of(fn),
            executions_wildcard_finding(state_machine),
            "Describe and stop executions of the remediation state machine only: execution "
            "names are per pin and not known at deploy time.",
        )
    # The decision API answers callbacks (success only: a rejection is a decision too);
    # ApprovalRequest answers its own when the pin ended while the approval was being
    # requested (handlers/approval_request.py).
    state_machine.grant(tasks.decision, "states:SendTaskSuccess")
    # By name, not by reference: the machine already refers to this function (a cycle).
    tasks.approval_request.add_to_role_policy(
        iam.PolicyStatement(actions=["states:SendTaskSuccess"], resources=[remediation.arn_by_name])
    )
    # The approval request states the canary's plan from the function's hourly Invocations
    # (handlers/approval_request.py). GetMetricData has no resource-level permissions.
    tasks.approval_request.add_to_role_policy(
        iam.PolicyStatement(actions=["cloudwatch:GetMetricData"], resources=["*"])
    )
    acknowledge(
        role_of(tasks.approval_request),
        "IAM5[Resource::*]",
        "cloudwatch:GetMetricData (the canary plan's hourly Invocations, read before approval) "
        "and X-Ray's trace actions accept only Resource '*'.",
    )


def _grant_scan(tasks: TaskFunctions, entries: EntryFunctions) -> None:
    """The scan's inventory, and its repair of a dead canary."""
    # ListFunctions has no resource-level permissions: AWS only accepts "*" for it.
    entries.scan.add_to_role_policy(
        iam.PolicyStatement(actions=["lambda:ListFunctions"], resources=["*"])
    )
    acknowledge(
        role_of(entries.scan),
        "IAM5[Resource::*]",
        "lambda:ListFunctions (the scan's inventory) and X-Ray's trace actions have no "
        "resource-level permissions, AWS only accepts Resource '*'.",
    )
    # The scan restores a dead canary by invoking the canary's rollback: the canary
    # function stays the only one that changes the fleet.
    tasks.canary.grant_invoke(entries.scan)
    acknowledge(
        role_of(entries.scan),
        qualified_arn_wildcard_finding(tasks.canary),
        "The scan may invoke versions and aliases of the canary function only (its rollback).",
    )


def grant_posture(
    notices: Notices,
    remediation: Remediation,
    tasks: TaskFunctions,
    entries: EntryFunctions,
    read_functions: iam.PolicyStatement,
) -> None:
    """Read: every function's settings, the ECR images they run, the templates of the stacks
    that manage them, the open pins; publish to the owner topic (image notices); open the
    ledger item of each FunctionUpdate function left behind and start its ladder (the ledger
    read-write and the audit trail are granted with the other trackers in `grant_all`)."""
    fn = entries.posture
    notices.owner.grant_publish(fn)
    remediation.state_machine.grant_start_execution(fn)
    # A big account is read in chunks: the function invokes itself with where to go on. A
    # policy of its own, not the role's default one (which the function depends on: a
    # statement naming the function there would be a dependency cycle).
    iam.Policy(
        Stack.of(fn),
        "PostureContinues",
        roles=[role_of(fn)],
        statements=[
            iam.PolicyStatement(actions=["lambda:InvokeFunction"], resources=[fn.function_arn])
        ],
    )
    fn.add_to_role_policy(read_functions)
    fn.add_to_role_policy(iam.PolicyStatement(actions=["lambda:ListFunctions"], resources=["*"]))
    fn.add_to_role_policy(
        iam.PolicyStatement(
            actions=["ecr:DescribeImages"],
            resources=[f"arn:{Aws.PARTITION}:ecr:{Aws.REGION}:{Aws.ACCOUNT_ID}:repository/*"],
        )
    )
    fn.add_to_role_policy(
        iam.PolicyStatement(
            actions=["cloudformation:GetTemplate"],
            resources=[
                f"arn:{Aws.PARTITION}:cloudformation:{Aws.REGION}:{Aws.ACCOUNT_ID}:stack/*/*"
            ],
        )
    )
    # The approval request says when the function's own template would re-pin it.
    get_template = iam.PolicyStatement(
        actions=["cloudformation:GetTemplate"],
        resources=[f"arn:{Aws.PARTITION}:cloudformation:{Aws.REGION}:{Aws.ACCOUNT_ID}:stack/*/*"],
    )
    tasks.approval_request.add_to_role_policy(get_template)
    acknowledge(
        role_of(tasks.approval_request),
        "IAM5[Resource::arn:<AWS::Partition>:cloudformation:<AWS::Region>:<AWS::AccountId>:stack/*/*]",
        "cloudformation:GetTemplate of the stack named by the pinned function's "
        "aws:cloudformation:stack-name tag: any stack of this account and region.",
    )
    role = role_of(fn)
    for finding, reason in (
        (
            READ_FUNCTIONS_FINDING,
            "The posture report reads every function of the account and region: read-only "
            "Get*/List* actions on function:*.",
        ),
        (
            "IAM5[Resource::*]",
            "lambda:ListFunctions (the inventory) and X-Ray's trace actions have no "
            "resource-level permissions, AWS only accepts Resource '*'.",
        ),
        (
            "IAM5[Resource::arn:<AWS::Partition>:ecr:<AWS::Region>:<AWS::AccountId>:repository/*]",
            "ecr:DescribeImages of the repository an image function was deployed from: any "
            "repository of this account and region may hold one.",
        ),
        (
            "IAM5[Resource::arn:<AWS::Partition>:cloudformation:<AWS::Region>:<AWS::AccountId>:stack/*/*]",
            "cloudformation:GetTemplate of the stack named by a function's "
            "aws:cloudformation:stack-name tag: any stack of this account and region.",
        ),
        (
            "IAM5[Action::kms:GenerateDataKey*]",
            "CDK's grant to publish to the KMS-encrypted owner topic: the stack's own key only.",
        ),
    ):
        acknowledge(role, finding, reason)


def grant_canary(storage: Storage, notices: Notices, tasks: TaskFunctions) -> None:
    """The only function that changes the fleet: runtime settings, versions and aliases,
    on function ARNs only; it reads metrics, alarms, INIT_START logs and test events."""
    fn = tasks.canary
    storage.ledger.grant_read_write_data(fn)
    storage.audit_log_group.grant_write(fn)
    for topic in notices.topics.values():
        topic.grant_publish(fn)
    fn.add_to_role_policy(
        iam.PolicyStatement(
            actions=[
                "lambda:GetFunction",
                "lambda:GetFunctionConfiguration",
                "lambda:GetRuntimeManagementConfig",
                "lambda:PutRuntimeManagementConfig",
                "lambda:UpdateFunctionConfiguration",
                "lambda:PublishVersion",
                "lambda:ListTags",
                "lambda:ListAliases",
                "lambda:GetAlias",
                "lambda:UpdateAlias",
                "lambda:InvokeFunction",
            ],
            resources=[FUNCTION_ARN_PATTERN, f"{FUNCTION_ARN_PATTERN}:*"],
        )
    )
    fn.add_to_role_policy(
        iam.PolicyStatement(
            actions=["logs:FilterLogEvents"],
            # Any group: a function's LoggingConfig.LogGroup may name any group it writes to.
            resources=[f"arn:{Aws.PARTITION}:logs:{Aws.REGION}:{Aws.ACCOUNT_ID}:log-group:*"],
        )
    )
    fn.add_to_role_policy(
        iam.PolicyStatement(
            actions=["ssm:GetParameter"],
            resources=[
                f"arn:{Aws.PARTITION}:ssm:{Aws.REGION}:{Aws.ACCOUNT_ID}:parameter/rollforward/test-events/*"
            ],
        )
    )
    # GetMetricData and DescribeAlarms have no resource-level permissions.
    fn.add_to_role_policy(
        iam.PolicyStatement(
            actions=["cloudwatch:GetMetricData", "cloudwatch:DescribeAlarms"], resources=["*"]
        )
    )
    for finding, reason in (
        (
            READ_FUNCTIONS_FINDING,
            "The canary rolls forward whichever function on-call approved: function ARNs of "
            "this account and region only, never another service's resources.",
        ),
        (
            "IAM5[Resource::arn:<AWS::Partition>:lambda:<AWS::Region>:<AWS::AccountId>:function:*:*]",
            "Published versions and aliases of the approved function (qualified ARNs).",
        ),
        (
            "IAM5[Resource::arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:*]",
            "INIT_START records of the approved function, the ground truth of the runtime "
            "that ran, in whichever group its LoggingConfig names (read-only: FilterLogEvents).",
        ),
        (
            "IAM5[Resource::arn:<AWS::Partition>:ssm:<AWS::Region>:<AWS::AccountId>:parameter/rollforward/test-events/*]",
            "Owners' test events live under /rollforward/test-events/.",
        ),
        (
            "IAM5[Resource::*]",
            "cloudwatch:GetMetricData/DescribeAlarms and X-Ray accept only Resource '*'.",
        ),
        ("IAM5[Action::kms:ReEncrypt*]", "CDK grants on the stack's own key only."),
        ("IAM5[Action::kms:GenerateDataKey*]", "CDK grants on the stack's own key only."),
    ):
        acknowledge(role_of(fn), finding, reason)
