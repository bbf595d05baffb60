"""What every handler needs: settings from the environment, boto3 clients, and the adapters
(`rollforward.adapters`) the core's ports are given.

The only place in the Lambda asset that constructs AWS clients. Clients are cached per
(service, region, endpoint) for warm starts; settings are read per invocation (cheap), so the
same process can serve more than one deployment in the embedded AWS.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import boto3
from botocore.config import Config

from rollforward.adapters.accounts import (
    Credentials,
    RoutedLambdaControl,
    StsAccountSessions,
    session_name,
)
from rollforward.adapters.cloudwatch_audit import CloudWatchAuditTrail
from rollforward.adapters.dynamodb_approvals import DynamoApprovalStore
from rollforward.adapters.dynamodb_ledger import DynamoLedger
from rollforward.adapters.dynamodb_locks import DynamoCanaryLocks
from rollforward.adapters.dynamodb_target_records import DynamoTargetRecords
from rollforward.adapters.executions import StepFunctionsExecutions
from rollforward.adapters.organization import AwsOrganizationAccounts
from rollforward.adapters.sns_notifier import SnsNotifier
from rollforward.approvals.service import Approvals
from rollforward.canary.service import Canary
from rollforward.escalation.tracking import Tracker
from rollforward.policy import Policy
from rollforward.ratelimit import TokenBucket

# Adaptive retry: client-side rate limiting when AWS answers 429, on top of standard retries.
RETRY_CONFIG = Config(
    retries={"mode": "adaptive", "max_attempts": 8}, connect_timeout=5, read_timeout=30
)


class MissingSetting(Exception):
    """A variable the deployed function must have is unset or empty: fail before doing any
    work, naming the variable, rather than run without (e.g. drop the audit trail)."""


# Every deployed function gets these (infra/stack.py `common_environment`); without them a
# handler would write nowhere or, for the audit trail, silently drop the records.
REQUIRED_VARIABLES = ("LEDGER_TABLE", "APPROVALS_TABLE", "AUDIT_LOG_GROUP")


@dataclass(frozen=True)
class FunctionSettings:
    """A deployed function's settings, from its environment (infra.settings.Settings are the
    deployment's, from cdk.json context)."""

    ledger_table: str
    approvals_table: str
    topics: dict[str, str]
    audit_log_group: str
    state_machine_arn: str
    policy: Policy
    console_url: str
    scan_rate_per_second: float
    # Hub and spokes (issue 12): the role the hub assumes in member accounts (empty: a
    # single-account install) and the hub's own account (empty: asked of STS once).
    member_role_name: str = ""
    hub_account: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> FunctionSettings:
        """From the function's environment (a deployed function's variables, for tools)."""
        env = os.environ if env is None else env
        missing = [name for name in REQUIRED_VARIABLES if not env.get(name)]
        if missing:
            raise MissingSetting(
                f"rollforward: required environment variable(s) unset or empty: "
                f"{', '.join(missing)} (set by the CDK stack on every function)"
            )
        return cls(
            ledger_table=env["LEDGER_TABLE"],
            approvals_table=env["APPROVALS_TABLE"],
            topics={
                "owner": env.get("OWNER_TOPIC_ARN", ""),
                "team": env.get("TEAM_TOPIC_ARN", ""),
                "oncall": env.get("ONCALL_TOPIC_ARN", ""),
            },
            audit_log_group=env["AUDIT_LOG_GROUP"],
            state_machine_arn=env.get("STATE_MACHINE_ARN", ""),
            policy=_policy(env.get("POLICY", "")),
            console_url=env.get("CONSOLE_URL", ""),
            scan_rate_per_second=float(env.get("SCAN_RATE_PER_SECOND", "3")),
            member_role_name=env.get("MEMBER_ROLE_NAME", ""),
            hub_account=env.get("HUB_ACCOUNT", ""),
        )


@lru_cache(maxsize=8)
def _policy(text: str) -> Policy:
    return Policy.from_json(text) if text else Policy.default()


def _where() -> tuple[str | None, str | None, str | None]:
    """(region, endpoint, access key id): the cache key of a client. The key id is part of it
    because a client keeps the credentials it was made with: on Lambda they are the function's
    for the life of the sandbox; in the embedded AWS one process runs every function, each with
    its own execution role's credentials."""
    env = os.environ
    return env.get("AWS_REGION"), env.get("AWS_ENDPOINT_URL"), env.get("AWS_ACCESS_KEY_ID")


def client(service: str) -> Any:
    return _client(service, *_where())


@lru_cache(maxsize=64)
def _client(service: str, region: str | None, endpoint: str | None, key_id: str | None) -> Any:
    return boto3.client(service, endpoint_url=endpoint, config=RETRY_CONFIG, **_credentials(region))


def table(name: str) -> Any:
    return _resource("dynamodb", *_where()).Table(name)


@lru_cache(maxsize=16)
def _resource(service: str, region: str | None, endpoint: str | None, key_id: str | None) -> Any:
    return boto3.resource(
        service, endpoint_url=endpoint, config=RETRY_CONFIG, **_credentials(region)
    )


def _credentials(region: str | None) -> dict[str, Any]:
    """The environment's credentials, read now: boto3's default session keeps the first ones
    it resolved (Lambda's are the function's for the sandbox's life; the embedded AWS runs
    every function in one process, each with its own role's)."""
    env = os.environ
    return {
        "region_name": region,
        "aws_access_key_id": env.get("AWS_ACCESS_KEY_ID"),
        "aws_secret_access_key": env.get("AWS_SECRET_ACCESS_KEY"),
        "aws_session_token": env.get("AWS_SESSION_TOKEN"),
    }


def _client_for(service: str, region: str, credentials: Credentials | None) -> Any:
    """A client in `region`: with the hub's own credentials (None) or a member session's."""
    _, endpoint, key_id = _where()
    if credentials is None:
        return _client(service, region or None, endpoint, key_id)
    return boto3.client(
        service,
        endpoint_url=endpoint,
        config=RETRY_CONFIG,
        region_name=region,
        aws_access_key_id=credentials.access_key_id,
        aws_secret_access_key=credentials.secret_access_key,
        aws_session_token=credentials.session_token,
    )


def sessions(settings: FunctionSettings) -> StsAccountSessions:
    """The per-account sessions of this hub function (kept for the process: a warm start
    reuses member credentials until shortly before they expire)."""
    region, endpoint, key_id = _where()
    account = settings.hub_account or (
        _own_account(region, endpoint, key_id) if settings.member_role_name else ""
    )
    acting = session_name(os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "") or "cli")
    return _sessions(account, region or "", settings.member_role_name, acting, endpoint, key_id)


@lru_cache(maxsize=16)
def _sessions(
    account: str,
    region: str,
    role_name: str,
    acting: str,
    endpoint: str | None,
    key_id: str | None,
) -> StsAccountSessions:
    return StsAccountSessions(
        home=(account, region), role_name=role_name, session_name=acting, client=_client_for
    )


@lru_cache(maxsize=16)
def _own_account(region: str | None, endpoint: str | None, key_id: str | None) -> str:
    """GetCallerIdentity (needs no permission), once per process and credentials."""
    identity = _client("sts", region, endpoint, key_id).get_caller_identity()
    return str(identity["Account"])


def lambda_control(settings: FunctionSettings) -> RoutedLambdaControl:
    """Lambda in whichever account and region the function named lives (its ARN)."""
    return RoutedLambdaControl(sessions(settings))


def organization_accounts() -> AwsOrganizationAccounts:
    """The Organization's accounts, as the hub (management or delegated administrator) reads
    them."""
    return AwsOrganizationAccounts(client("organizations"))


def ledger(settings: FunctionSettings) -> DynamoLedger:
    return DynamoLedger(table(settings.ledger_table))


def audit(settings: FunctionSettings) -> CloudWatchAuditTrail:
    return CloudWatchAuditTrail(client("logs"), settings.audit_log_group)


def fleet_read_budget(settings: FunctionSettings) -> TokenBucket:
    """The pace of a function that reads the whole fleet (the scan, the posture report): its
    share (`SCAN_RATE_PER_SECOND`) of the account's shared 15 req/s Lambda control-plane
    bucket, so the account's own deploys keep the rest."""
    return TokenBucket(settings.scan_rate_per_second)


def transient_error(message: str) -> Exception:
    """An exception Lambda reports with errorType `rollforward.Transient`, which the state
    machine retries with backoff (a throttled or failing AWS call, not a bug)."""
    error_type: type[Exception] = type("rollforward.Transient", (Exception,), {})
    return error_type(message)


def notifier(settings: FunctionSettings) -> SnsNotifier:
    return SnsNotifier(client("sns"), settings.topics, console_url=settings.console_url)


def target_records(settings: FunctionSettings) -> DynamoTargetRecords:
    """Where the scan's children record their targets' outcomes (the ledger's table)."""
    return DynamoTargetRecords(table(settings.ledger_table))


def tracker(settings: FunctionSettings) -> Tracker:
    return Tracker(
        ledger=ledger(settings),
        lambda_control=lambda_control(settings),
        executions=StepFunctionsExecutions(client("stepfunctions"), settings.state_machine_arn),
        notifier=notifier(settings),
        audit=audit(settings),
        policy=settings.policy,
    )


def approvals(settings: FunctionSettings) -> Approvals:
    return Approvals(
        store=DynamoApprovalStore(table(settings.approvals_table)),
        ledger=ledger(settings),
        executions=StepFunctionsExecutions(client("stepfunctions"), settings.state_machine_arn),
        audit=audit(settings),
        policy=settings.policy,
        lambda_control=lambda_control(settings),
    )


def canary(settings: FunctionSettings, where: tuple[str, str] | None = None) -> Canary:
    """The canary acting in `where` (account, region): the pin's function's own (metrics,
    logs, alarms and parameters are read there too); None: the hub's own."""
    acting = sessions(settings)
    account, region = where or acting.home
    return Canary(
        ledger=ledger(settings),
        lam=acting.lambda_control(account, region),
        signals=acting.signals(account, region),
        notifier=notifier(settings),
        audit=audit(settings),
        policy=settings.policy,
        locks=DynamoCanaryLocks(table(settings.ledger_table)),
    )
