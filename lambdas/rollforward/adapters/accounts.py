"""`AccountSessions` on STS: the hub acts in a member account as the member's execution role.

The member stack (`infra/member_stack.py`, deployed by a StackSet to every account and region
of the Organization) holds the role `arn:<partition>:iam::<account>:role/<role name>-<region>`
(per region: IAM names are global to an account, and the StackSet deploys one stack per
region); its trust admits only the hub's roles, from inside the organization. The hub assumes
it with a session name saying which hub function acts (`rollforward@<function name>`), so the
member's CloudTrail shows who changed its function. Credentials are kept per (account, region)
until `refresh_before` ahead of their expiry.

The hub's own account is never assumed into: its functions act with their own credentials, as
a single-account install always has (the hub is its own member).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from rollforward.adapters.aws_errors import call, error_code
from rollforward.adapters.lambda_control import AwsLambdaControl
from rollforward.adapters.signals import CloudWatchSignals
from rollforward.detection.events import partition_of
from rollforward.model import PinKey, RuntimeSetting, UpdateMode
from rollforward.ports import Alias, LambdaControl, Refused
from rollforward.scan.listing import AliasRouting, FunctionsPage
from rollforward.scan.screening import FunctionRuntime

# Renew this long before a session expires: a canary step must never run on credentials that
# lapse halfway through it.
REFRESH_BEFORE = timedelta(minutes=5)
SESSION_SECONDS = 3600
_SESSION_NAME_LIMIT = 64  # RoleSessionName: [\w+=,.@-]{2,64}


@dataclass(frozen=True, slots=True)
class Credentials:
    """A role session's credentials (STS AssumeRole `Credentials`)."""

    access_key_id: str
    secret_access_key: str
    session_token: str
    expiration: datetime


# (service, region, credentials or None for the hub's own) -> a boto3 client.
ClientFactory = Callable[[str, str, Credentials | None], Any]


def session_name(function_name: str) -> str:
    """`rollforward@<hub function>`: who acts, as the member's CloudTrail shows it."""
    cleaned = "".join(c if c.isalnum() or c in "+=,.@-_" else "-" for c in function_name)
    return f"rollforward@{cleaned or 'hub'}"[:_SESSION_NAME_LIMIT]


def member_role_arn(account: str, region: str, role_name: str) -> str:
    """The member stack's role in (account, region): `<role name>-<region>`."""
    return f"arn:{partition_of(region)}:iam::{account}:role/{role_name}-{region}"


class StsAccountSessions:
    """`AccountSessions` for a hub at `home` (account, region).

    `role_name` empty means a single-account install: every account is served with the hub's
    own credentials (a function elsewhere is then refused by AWS, as before)."""

    def __init__(
        self,
        *,
        home: tuple[str, str],
        role_name: str,
        session_name: str,
        client: ClientFactory,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        refresh_before: timedelta = REFRESH_BEFORE,
        duration_seconds: int = SESSION_SECONDS,
    ) -> None:
        self._home = home
        self.role_name = role_name
        self.session_name = session_name
        self._client = client
        # Credentials expire on the wall clock, never on the embedded AWS's emulated one.
        self._wall_clock = wall_clock
        self._refresh_before = refresh_before
        self._duration = duration_seconds
        self._credentials: dict[tuple[str, str], Credentials] = {}
        self._clients: dict[tuple[str, str, str], tuple[Credentials | None, Any]] = {}
        self._lock = threading.Lock()
        self.assumed = 0  # AssumeRole calls made (the cache's effect, for tests)

    @property
    def home(self) -> tuple[str, str]:
        return self._home

    def is_home(self, account: str) -> bool:
        return not self.role_name or account == self._home[0]

    def credentials(self, account: str, region: str) -> Credentials | None:
        """The member role's session for `account` (None: the hub's own credentials)."""
        if self.is_home(account):
            return None
        with self._lock:
            held = self._credentials.get((account, region))
            if held is not None and held.expiration - self._refresh_before > self._wall_clock():
                return held
            fresh = self._assume(account, region)
            self._credentials[(account, region)] = fresh
            return fresh

    def _assume(self, account: str, region: str) -> Credentials:
        # STS is called in the hub's own region: its regional endpoint serves every account.
        sts = self._client("sts", self._home[1], None)
        arn = member_role_arn(account, region, self.role_name)
        try:
            answer = call(
                sts.assume_role,
                RoleArn=arn,
                RoleSessionName=self.session_name,
                DurationSeconds=self._duration,
            )
        except ClientError as error:
            raise Refused(
                f"rollforward cannot act in account {account}: assuming {arn} was refused "
                f"({error_code(error) or 'error'}); is the member stack deployed there?"
            ) from error
        self.assumed += 1
        raw: Mapping[str, Any] = answer["Credentials"]
        expiration = raw["Expiration"]
        if isinstance(expiration, str):
            expiration = datetime.fromisoformat(expiration.replace("Z", "+00:00"))
        if expiration.tzinfo is None:
            expiration = expiration.replace(tzinfo=UTC)
        return Credentials(
            access_key_id=str(raw["AccessKeyId"]),
            secret_access_key=str(raw["SecretAccessKey"]),
            session_token=str(raw["SessionToken"]),
            expiration=expiration,
        )

    def client(self, service: str, account: str, region: str) -> Any:
        """A boto3 client acting in (account, region): rebuilt when its session is renewed."""
        credentials = self.credentials(account, region)
        key = (service, account, region)
        held = self._clients.get(key)
        if held is not None and held[0] == credentials:
            return held[1]
        made = self._client(service, region, credentials)
        self._clients[key] = (credentials, made)
        return made

    def lambda_control(self, account: str, region: str) -> AwsLambdaControl:
        return AwsLambdaControl(self.client("lambda", account, region))

    def signals(self, account: str, region: str) -> CloudWatchSignals:
        return CloudWatchSignals(
            self.client("cloudwatch", account, region),
            self.client("logs", account, region),
            self.client("ssm", account, region),
        )


def _where(function: str, home: tuple[str, str]) -> tuple[str, str]:
    """(account, region) of a function ARN (qualified or not); a bare name is the hub's."""
    parts = function.split(":")
    if len(parts) >= 7 and parts[0] == "arn" and parts[2] == "lambda":
        return parts[4], parts[3]
    return home


class RoutedLambdaControl:
    """One `LambdaControl` over every account: each call goes to the account and region of the
    function it names (its ARN), so a Tracker or Approvals serving a member's pin reads and
    changes that pin's function in its own account. Calls naming no function (ListFunctions)
    act in the hub's own (account, region); the scan lists members through
    `AccountSessions.lambda_control` per (account, region)."""

    def __init__(self, sessions: StsAccountSessions) -> None:
        self.sessions = sessions

    def _at(self, function: str) -> LambdaControl:
        return self.sessions.lambda_control(*_where(function, self.sessions.home))

    @property
    def client(self) -> Any:
        """The hub's own Lambda client (the scan paces the calls made through it)."""
        return self.sessions.client("lambda", *self.sessions.home)

    def runtime_setting(self, key: PinKey) -> RuntimeSetting | None:
        return self._at(key.function_arn).runtime_setting(key)

    def tags(self, function_arn: str) -> dict[str, str]:
        return self._at(function_arn).tags(function_arn)

    def list_functions(
        self, *, marker: str | None, max_items: int, all_versions: bool = False
    ) -> FunctionsPage:
        home = self.sessions.lambda_control(*self.sessions.home)
        return home.list_functions(marker=marker, max_items=max_items, all_versions=all_versions)

    def aliases(self, function_arn: str) -> list[AliasRouting] | None:
        return self._at(function_arn).aliases(function_arn)

    def function_runtime(
        self, function_arn: str, qualifier: str | None = None
    ) -> FunctionRuntime | None:
        return self._at(function_arn).function_runtime(function_arn, qualifier)

    def put_runtime_setting(
        self, function: str, qualifier: str | None, mode: UpdateMode, runtime_version_arn: str = ""
    ) -> None:
        self._at(function).put_runtime_setting(function, qualifier, mode, runtime_version_arn)

    def alias(self, function: str, name: str) -> Alias:
        return self._at(function).alias(function, name)

    def update_alias(
        self,
        function: str,
        name: str,
        *,
        version: str,
        weights: Mapping[str, float],
        revision_id: str = "",
    ) -> None:
        self._at(function).update_alias(
            function, name, version=version, weights=weights, revision_id=revision_id
        )

    def configuration(self, function: str, qualifier: str | None = None) -> Mapping[str, Any]:
        return self._at(function).configuration(function, qualifier)

    def runtime_version_in_use(self, function: str, qualifier: str) -> str:
        return self._at(function).runtime_version_in_use(function, qualifier)

    def set_description(self, function: str, description: str) -> None:
        self._at(function).set_description(function, description)

    def publish_version(self, function: str, description: str) -> str:
        return self._at(function).publish_version(function, description)

    def invoke(self, function: str, qualifier: str, payload: bytes) -> str | None:
        return self._at(function).invoke(function, qualifier, payload)


__all__ = [
    "Credentials",
    "RoutedLambdaControl",
    "StsAccountSessions",
    "member_role_arn",
    "session_name",
]
