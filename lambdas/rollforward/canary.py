"""Rolling a pinned function forward to Auto behind a canary — or back, losing nothing.

The safety invariant: whatever fails, the function ends either promoted and verified, or
exactly as it was (alias 100% on the baseline version, `$LATEST` Manual on the original
runtime version ARN). rollforward never touches an alias it does not find in the state it left
it in: if a human changed the alias or the pin mid-canary, it stops and hands back.

Alias strategy (the function is invoked through an alias):
  preflight → candidate (baseline pinned explicitly; `$LATEST` FunctionUpdate + touch → newest
  runtime; publish) → weights 5% → 25% → 50%, each baked and judged on `ExecutedVersion`
  metrics → promote (alias 100% candidate; candidate and `$LATEST` Auto) → post-promotion bake.
Synthetic strategy (invoked unqualified): the candidate version is invoked with the owner's
test events; then `$LATEST` goes Auto, baked against its own earlier window.

`Canary` holds the AWS clients; every decision of "is this good enough" is the judge's
(`rollforward.judge`), pure and separately tested. The state machine carries `CanaryState`.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

from botocore.exceptions import ClientError

from rollforward.audit import AuditEvent, AuditTrail
from rollforward.clock import iso, parse_iso, utc_now
from rollforward.initstart import log_source, parse_init_start
from rollforward.judge import JudgePolicy, Outcome, VersionSample, judge
from rollforward.ledger import Ledger, Pin, Stage
from rollforward.live import TRANSIENT_CODES, TransientAwsError, error_code, read_tags
from rollforward.model import LATEST, PinKey, UpdateMode
from rollforward.notices import NoticeKind
from rollforward.notify import Notifier
from rollforward.policy import Policy
from rollforward.progress import Attempt, with_attempt

# Configuration that must be equal between `$LATEST` and the baseline version, or the candidate
# would carry unpublished changes along with the new runtime.
COMPARED_CONFIGURATION = (
    "Runtime",
    "Handler",
    "MemorySize",
    "Timeout",
    "Role",
    "Environment",
    "Layers",
    "Architectures",
    "VpcConfig",
    "DeadLetterConfig",
    "TracingConfig",
    "EphemeralStorage",
    "FileSystemConfigs",
    "ImageConfigResponse",
    "LoggingConfig",
    "SnapStart",
)
ALIAS_TAG = "rollforward:alias"
# Ledger evidence key: the canary's state, written before each change StartCanary makes, so a
# Rollback after a StartCanary that died mid-way (its output never reached the workflow) still
# knows which alias, versions and pin to restore.
IN_FLIGHT = "canary_in_flight"
CANDIDATE_DESCRIPTION = "rollforward candidate: newest runtime, same code and configuration"
MAX_SYNTHETIC_EVENTS = 20


class Stop(Exception):
    """Refuse to go on, with a precise reason for the owner. Nothing was changed by us yet,
    or what was changed has been restored by the caller."""

    def __init__(self, reason: str, *, hand_back: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.hand_back = hand_back  # a human changed something: do not fight them


@dataclass
class CanaryState:
    strategy: str = ""  # alias | synthetic
    alias: str = ""
    baseline_version: str = ""
    candidate_version: str = ""
    pinned_arn: str = ""
    candidate_runtime_arn: str = ""
    step_index: int = -1
    weight: float = 0.0
    window_start: str = ""
    bake_until: str = ""
    extensions: int = 0
    next: str = ""  # bake | promote | post_bake | rollback | resolved | ask_human | stopped
    reason: str = ""
    verdicts: list[dict[str, Any]] = field(default_factory=list)
    accept_untested: bool = False
    promoted: bool = False
    started_at: str = ""  # when the first traffic step began (INIT_START search window)
    baseline_setting: dict[str, str] = field(default_factory=dict)  # restored on rollback

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> CanaryState:
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in (data or {}).items() if k in known})


# CloudWatch (GetMetricData, DescribeAlarms) throttles with `Throttling` (400), not Lambda's code.
_TRANSIENT_CODES = TRANSIENT_CODES | {"Throttling"}


def _transient(call: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return call(*args, **kwargs)
    except ClientError as error:
        if error_code(error) in _TRANSIENT_CODES:
            raise TransientAwsError(f"{error_code(error)}: {error}") from error
        raise


class Canary:
    """Acts on one function by its ARN (as AWS requires for ListTags, and as a cross-account
    version will need: it would assume a role in the ARN's account); metrics and log groups are
    keyed by name, as AWS keys them."""

    def __init__(
        self,
        *,
        ledger: Ledger,
        lambda_client: Any,
        cloudwatch: Any,
        logs: Any,
        ssm: Any,
        notifier: Notifier,
        audit: AuditTrail,
        policy: Policy,
    ) -> None:
        self.ledger = ledger
        self.lam = lambda_client
        self.cloudwatch = cloudwatch
        self.logs = logs
        self.ssm = ssm
        self.notifier = notifier
        self.audit = audit
        self.policy = policy
        settings = policy.canary
        self.judge_policy = JudgePolicy(
            min_candidate_invocations=settings.min_invocations,
            min_baseline_invocations=settings.min_invocations,
        )

    # ------------------------------------------------------------------ start
    def start(self, pin: Pin, decision: dict[str, Any]) -> CanaryState:
        """Preflight, candidate, first traffic step. Raises Stop before any change if unsafe."""
        state = CanaryState(pinned_arn=pin.pinned_runtime_version_arn)
        state.accept_untested = bool(decision.get("accept_untested"))
        # A retried start picks up what its earlier attempt recorded before changing anything.
        earlier = (
            CanaryState.from_dict(pin.evidence.get(IN_FLIGHT))
            if pin.stage is Stage.CANARY
            else CanaryState()
        )
        self._preflight_pin(pin)
        tags = read_tags(self.lam, pin.key.function_arn)
        alias = self._choose_alias(pin, tags)
        alarms = self._alarm_names(tags)
        firing = self._alarms_in_alarm(alarms, must_exist=True)
        if firing:
            raise Stop(f"watched alarm(s) already in ALARM before any change: {', '.join(firing)}")
        if alias is not None:
            state.strategy, state.alias = "alias", alias["Name"]
            state.baseline_version = self._preflight_alias(pin, alias)
        else:
            state.strategy = "synthetic"
            if not self._test_events(tags) and not state.accept_untested:
                raise Stop(
                    "the function has no alias and no test events (tag "
                    f"{self.policy.tags.test_events} naming an SSM parameter): approve with "
                    "accept_untested to roll forward on a bake alone"
                )
            # (publishing again would snapshot a `$LATEST` the earlier attempt already moved)
            state.baseline_version = earlier.baseline_version or self._publish_baseline(pin)
        if earlier.baseline_version == state.baseline_version:
            state.baseline_setting = earlier.baseline_setting  # read before the attempt changed it
        self._remember(pin, state)
        self._make_candidate(pin, state)
        self._remember(pin, state)
        if state.candidate_runtime_arn == state.pinned_arn:
            # Nothing newer to test: Auto changes nothing today and follows AWS from now on.
            state.reason = "the newest runtime version is the pinned one: nothing to canary"
            self._promote_settings(pin, state)
            state.next = "resolved"
            return state
        if state.strategy == "alias":
            return self._shift(pin, state, 0)
        return self._synthetic_test(pin, state, tags)

    def _remember(self, pin: Pin, state: CanaryState) -> None:
        self.ledger.update(
            pin,
            utc_now(),
            stage=Stage.CANARY,
            evidence={**pin.evidence, IN_FLIGHT: state.to_dict()},
        )

    def _preflight_pin(self, pin: Pin) -> None:
        live = _transient(
            self.lam.get_runtime_management_config,
            FunctionName=pin.key.function_arn,
            Qualifier=LATEST,
        )
        if live["UpdateRuntimeOn"] == UpdateMode.FUNCTION_UPDATE and pin.stage is Stage.CANARY:
            # A retried start (Step Functions retries a throttled or failed attempt): the
            # earlier attempt got past this check and set FunctionUpdate itself. Pick up there.
            return
        if (
            live["UpdateRuntimeOn"] != UpdateMode.MANUAL
            or live.get("RuntimeVersionArn") != pin.pinned_runtime_version_arn
        ):
            raise Stop(
                f"the pin changed since approval (now {live['UpdateRuntimeOn']} "
                f"{live.get('RuntimeVersionArn') or ''}): handing back",
                hand_back=True,
            )

    def _expect_candidate_settings(self, pin: Pin, state: CanaryState) -> None:
        """Mid-canary, `$LATEST` is FunctionUpdate (set by us); anything else is a human."""
        live = _transient(
            self.lam.get_runtime_management_config,
            FunctionName=pin.key.function_arn,
            Qualifier=LATEST,
        )
        if live["UpdateRuntimeOn"] != UpdateMode.FUNCTION_UPDATE:
            raise Stop(
                f"the runtime setting of $LATEST was changed mid-canary (now {live['UpdateRuntimeOn']}): handing back",
                hand_back=True,
            )

    def _choose_alias(self, pin: Pin, tags: dict[str, str]) -> dict[str, Any] | None:
        aliases = _transient(self.lam.list_aliases, FunctionName=pin.key.function_arn).get(
            "Aliases", []
        )
        wanted = tags.get(ALIAS_TAG)
        if wanted:
            for alias in aliases:
                if alias["Name"] == wanted:
                    return dict(alias)
            raise Stop(f"tag {ALIAS_TAG} names alias {wanted!r}, which does not exist")
        if len(aliases) > 1:
            names = ", ".join(sorted(a["Name"] for a in aliases))
            raise Stop(
                f"the function has several aliases ({names}): tag {ALIAS_TAG} with the one that takes traffic"
            )
        return dict(aliases[0]) if aliases else None

    def _preflight_alias(self, pin: Pin, alias: dict[str, Any]) -> str:
        if (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights"):
            raise Stop(
                f"alias {alias['Name']} already splits traffic: rollforward only starts from one version"
            )
        baseline = str(alias["FunctionVersion"])
        if baseline == LATEST:
            raise Stop(
                f"alias {alias['Name']} points at $LATEST: publish a version and point the alias at it"
            )
        latest = _transient(self.lam.get_function_configuration, FunctionName=pin.key.function_arn)
        published = _transient(
            self.lam.get_function_configuration,
            FunctionName=pin.key.function_arn,
            Qualifier=baseline,
        )
        differences = [
            key
            for key in ("CodeSha256", *COMPARED_CONFIGURATION)
            if _normal(latest.get(key)) != _normal(published.get(key))
        ]
        if differences:
            raise Stop(
                f"$LATEST has unpublished changes against version {baseline} ({', '.join(differences)}): "
                "publish or revert them first, or they would ride along with the new runtime"
            )
        return baseline

    def _publish_baseline(self, pin: Pin) -> str:
        published = _transient(
            self.lam.publish_version,
            FunctionName=pin.key.function_arn,
            Description="rollforward baseline",
        )
        return str(published["Version"])

    def _make_candidate(self, pin: Pin, state: CanaryState) -> None:
        function_arn = pin.key.function_arn
        if not state.baseline_setting:
            original = _transient(
                self.lam.get_runtime_management_config,
                FunctionName=function_arn,
                Qualifier=state.baseline_version,
            )
            state.baseline_setting = {
                "UpdateRuntimeOn": original["UpdateRuntimeOn"],
                "RuntimeVersionArn": original.get("RuntimeVersionArn") or "",
            }
            self._remember(pin, state)
        # The baseline keeps the old runtime whatever happens to $LATEST or in phase 2.
        _transient(
            self.lam.put_runtime_management_config,
            FunctionName=function_arn,
            Qualifier=state.baseline_version,
            UpdateRuntimeOn="Manual",
            RuntimeVersionArn=state.pinned_arn,
        )
        _transient(
            self.lam.put_runtime_management_config,
            FunctionName=function_arn,
            UpdateRuntimeOn="FunctionUpdate",
        )
        # A configuration update is what applies the newest runtime in FunctionUpdate mode.
        _transient(
            self.lam.update_function_configuration,
            FunctionName=function_arn,
            Description=f"{CANDIDATE_DESCRIPTION} ({iso(utc_now())})",
        )
        self._wait_until_updated(function_arn)
        candidate = _transient(
            self.lam.publish_version, FunctionName=function_arn, Description=CANDIDATE_DESCRIPTION
        )
        state.candidate_version = str(candidate["Version"])
        configuration = _transient(
            self.lam.get_function, FunctionName=function_arn, Qualifier=state.candidate_version
        )["Configuration"]
        state.candidate_runtime_arn = str(
            (configuration.get("RuntimeVersionConfig") or {}).get("RuntimeVersionArn", "")
        )
        self.audit.record(
            AuditEvent.CANARY_STEP,
            pin_id=pin.key.id,
            step="candidate",
            strategy=state.strategy,
            alias=state.alias,
            baseline_version=state.baseline_version,
            candidate_version=state.candidate_version,
            candidate_runtime_version_arn=state.candidate_runtime_arn,
        )

    def _wait_until_updated(self, function_arn: str, attempts: int = 30) -> None:
        for _ in range(attempts):
            status = _transient(self.lam.get_function_configuration, FunctionName=function_arn).get(
                "LastUpdateStatus", "Successful"
            )
            if status == "Successful":
                return
            if status == "Failed":
                raise Stop("the configuration update that applies the new runtime failed")
            time.sleep(2)
        raise TransientAwsError("the function update is still in progress")

    # ------------------------------------------------------------------ traffic steps
    def _shift(self, pin: Pin, state: CanaryState, index: int) -> CanaryState:
        steps = self.policy.canary.steps
        previous = state.weight if index > 0 else None
        revision = self._expect_alias(pin, state, previous)
        weight = float(steps[index])
        self._update_alias(
            pin,
            state,
            revision,
            FunctionVersion=state.baseline_version,
            RoutingConfig={"AdditionalVersionWeights": {state.candidate_version: weight}},
        )
        now = utc_now()
        state.step_index, state.weight, state.extensions = index, weight, 0
        state.window_start = iso(now)
        state.bake_until = iso(now + self.policy.canary.bake)
        state.next = "bake"
        self.audit.record(
            AuditEvent.CANARY_STEP,
            pin_id=pin.key.id,
            step=f"shift {index + 1}/{len(steps)}",
            weight=weight,
            bake_until=state.bake_until,
        )
        if index == 0:
            state.started_at = state.window_start
            self._notify(
                NoticeKind.CANARY_STARTED,
                pin,
                next_step=f"{weight:.0%} of traffic goes to the new runtime until {state.bake_until}; rollforward rolls back on any regression.",
                facts={
                    "Candidate version": state.candidate_version,
                    "Baseline version": state.baseline_version,
                },
            )
        return state

    def _update_alias(self, pin: Pin, state: CanaryState, revision: str, **change: Any) -> None:
        """UpdateAlias on the revision rollforward just read: a human change that lands in
        between makes Lambda answer 412, and rollforward hands back instead of overwriting."""
        try:
            _transient(
                self.lam.update_alias,
                FunctionName=pin.key.function_arn,
                Name=state.alias,
                **({"RevisionId": revision} if revision else {}),
                **change,
            )
        except ClientError as error:
            if error_code(error) == "PreconditionFailedException":
                raise Stop(
                    f"alias {state.alias} was changed by someone else while rollforward was "
                    "changing it: handing back",
                    hand_back=True,
                ) from error
            raise

    def _expect_alias(self, pin: Pin, state: CanaryState, weight: float | None) -> str:
        """The alias is exactly as rollforward left it (else a human took over); its revision."""
        alias = _transient(self.lam.get_alias, FunctionName=pin.key.function_arn, Name=state.alias)
        weights = (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
        expected = {} if weight is None else {state.candidate_version: weight}
        if (
            str(alias["FunctionVersion"]) != state.baseline_version
            or {k: float(v) for k, v in weights.items()} != expected
        ):
            raise Stop(
                f"alias {state.alias} was changed by someone else (now version {alias['FunctionVersion']}, "
                f"weights {weights}): handing back",
                hand_back=True,
            )
        return str(alias.get("RevisionId") or "")

    def judge_step(self, pin: Pin, state: CanaryState) -> CanaryState:
        """After a bake: judge, then shift further, extend, promote, or roll back."""
        self._expect_candidate_settings(pin, state)
        self._expect_alias(pin, state, state.weight)
        window_end = utc_now()
        start = parse_iso(state.window_start)
        candidate = self._sample(pin, state, state.candidate_version, start, window_end)
        baseline = self._sample(pin, state, state.baseline_version, start, window_end)
        firing = self._alarms_in_alarm(self._alarm_names(read_tags(self.lam, pin.key.function_arn)))
        verdict = judge(candidate, baseline, firing, self.judge_policy)
        record = {
            "step": state.step_index + 1,
            "weight": state.weight,
            "outcome": str(verdict.outcome),
            **verdict.evidence,
        }
        state.verdicts = [*state.verdicts, record][-8:]
        self.audit.record(
            AuditEvent.CANARY_STEP,
            pin_id=pin.key.id,
            step=f"judge {state.step_index + 1}",
            verdict=verdict.to_dict(),
        )
        if verdict.outcome is Outcome.FAIL:
            state.next, state.reason = "rollback", "; ".join(verdict.reasons)
            return state
        if verdict.outcome is Outcome.INCONCLUSIVE:
            if state.extensions < self.policy.canary.max_extensions:
                state.extensions += 1
                state.bake_until = iso(window_end + self.policy.canary.bake)
                state.next = "bake"
                return state
            state.next, state.reason = (
                "ask_human",
                "inconclusive after the longest bake: " + "; ".join(verdict.reasons),
            )
            return state
        if state.step_index + 1 < len(self.policy.canary.steps):
            return self._shift(pin, state, state.step_index + 1)
        if not self._ran_new_runtime(pin, state, start, window_end):
            state.next = "rollback"
            state.reason = f"no INIT_START shows version {state.candidate_version} on {state.candidate_runtime_arn}"
            return state
        state.next = "promote"
        return state

    def _metric_values(
        self,
        dimensions: list[dict[str, str]],
        stats: dict[str, tuple[str, str]],
        start: datetime,
        end: datetime,
    ) -> dict[str, list[float]]:
        """`AWS/Lambda` per-minute values, by query id: `stats` maps id -> (metric, statistic)."""
        queries = [
            {
                "Id": query_id,
                "MetricStat": {
                    "Metric": {
                        "Namespace": "AWS/Lambda",
                        "MetricName": metric,
                        "Dimensions": dimensions,
                    },
                    "Period": 60,
                    "Stat": stat,
                },
            }
            for query_id, (metric, stat) in stats.items()
        ]
        response = _transient(
            self.cloudwatch.get_metric_data, MetricDataQueries=queries, StartTime=start, EndTime=end
        )
        return {r["Id"]: list(r.get("Values", [])) for r in response.get("MetricDataResults", [])}

    def _sample(
        self, pin: Pin, state: CanaryState, version: str, start: datetime, end: datetime
    ) -> VersionSample:
        name = pin.key.function_name
        dimensions = [
            {"Name": "FunctionName", "Value": name},
            {"Name": "Resource", "Value": f"{name}:{state.alias}"},
            {"Name": "ExecutedVersion", "Value": version},
        ]
        values = self._metric_values(
            dimensions,
            {
                "invocations": ("Invocations", "Sum"),
                "errors": ("Errors", "Sum"),
                "throttles": ("Throttles", "Sum"),
                "p99": ("Duration", "p99"),
            },
            start - timedelta(minutes=1),
            end + timedelta(minutes=1),
        )
        p99s = values.get("p99") or []
        invocations = int(sum(values.get("invocations", [])))
        return VersionSample(
            invocations=invocations,
            errors=min(invocations, int(sum(values.get("errors", [])))),
            throttles=int(sum(values.get("throttles", []))),
            duration_p99_ms=max(p99s) if p99s else None,
        )

    def _ran_new_runtime(
        self, pin: Pin, state: CanaryState, start: datetime, end: datetime
    ) -> bool:
        """INIT_START is the ground truth of which runtime version really ran.

        Searched where the candidate version logs, in its format (its `LoggingConfig`): a
        custom group or the JSON format must not read as "no cold start on the new runtime".
        """
        source = log_source(
            _transient(
                self.lam.get_function_configuration,
                FunctionName=pin.key.function_name,
                Qualifier=state.candidate_version,
            )
        )
        kwargs: dict[str, Any] = {
            "logGroupName": source.log_group,
            "filterPattern": source.filter_pattern,
            "startTime": int(
                (
                    parse_iso(state.started_at or state.window_start) - timedelta(minutes=1)
                ).timestamp()
                * 1000
            ),
            "endTime": int((end + timedelta(minutes=1)).timestamp() * 1000),
        }
        try:
            while True:
                page = _transient(self.logs.filter_log_events, **kwargs)
                for event in page.get("events", []):
                    init = parse_init_start(
                        event["message"], log_stream_name=event.get("logStreamName")
                    )
                    if (
                        init
                        and init.runtime_version_arn == state.candidate_runtime_arn
                        and init.function_version in (None, state.candidate_version)
                    ):
                        return True
                if not page.get("nextToken"):
                    return False
                kwargs["nextToken"] = page["nextToken"]
        except ClientError as error:
            if error_code(error) == "ResourceNotFoundException":
                return False
            raise

    # ------------------------------------------------------------------ synthetic
    def _test_events(self, tags: dict[str, str]) -> list[Any]:
        parameter = tags.get(self.policy.tags.test_events)
        if not parameter:
            return []
        try:
            value = _transient(self.ssm.get_parameter, Name=parameter, WithDecryption=True)[
                "Parameter"
            ]["Value"]
            events = json.loads(value)
        except (ClientError, ValueError) as error:
            raise Stop(f"test events parameter {parameter} is unreadable: {error}") from error
        if not isinstance(events, list) or not events:
            raise Stop(
                f"test events parameter {parameter} must hold a non-empty JSON list of events"
            )
        return events[:MAX_SYNTHETIC_EVENTS]

    def _synthetic_test(self, pin: Pin, state: CanaryState, tags: dict[str, str]) -> CanaryState:
        events = self._test_events(tags)
        failures = []
        for index, event in enumerate(events):
            response = _transient(
                self.lam.invoke,
                FunctionName=pin.key.function_arn,
                Qualifier=state.candidate_version,
                Payload=json.dumps(event).encode(),
            )
            if response.get("FunctionError"):
                failures.append(index)
        self.audit.record(
            AuditEvent.CANARY_STEP,
            pin_id=pin.key.id,
            step="synthetic",
            events=len(events),
            failures=failures,
        )
        if failures:
            state.next, state.reason = (
                "rollback",
                f"test events {failures} failed on the candidate runtime",
            )
            return state
        now = utc_now()
        state.window_start = iso(now)
        self._promote_settings(pin, state)
        state.bake_until = iso(now + self.policy.canary.post_promotion_bake)
        state.next = "post_bake"
        return state

    # ------------------------------------------------------------------ promote / verify
    def promote(self, pin: Pin, state: CanaryState) -> CanaryState:
        # A retried Promote finds the alias already moved by its earlier attempt.
        if not self._alias_promoted(pin, state):
            revision = self._expect_alias(pin, state, state.weight)
            self._update_alias(
                pin,
                state,
                revision,
                FunctionVersion=state.candidate_version,
                RoutingConfig={"AdditionalVersionWeights": {}},
            )
        self._promote_settings(pin, state)
        now = utc_now()
        state.window_start, state.bake_until, state.next = (
            iso(now),
            iso(now + self.policy.canary.post_promotion_bake),
            "post_bake",
        )
        self.audit.record(
            AuditEvent.CANARY_STEP,
            pin_id=pin.key.id,
            step="promote",
            alias=state.alias,
            version=state.candidate_version,
        )
        return state

    def _alias_promoted(self, pin: Pin, state: CanaryState) -> bool:
        """The alias serves the candidate alone, as promote leaves it."""
        alias = _transient(self.lam.get_alias, FunctionName=pin.key.function_arn, Name=state.alias)
        weights = (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
        return str(alias["FunctionVersion"]) == state.candidate_version and not weights

    def _promote_settings(self, pin: Pin, state: CanaryState) -> None:
        function_arn = pin.key.function_arn
        state.promoted = True
        if state.candidate_version:
            _transient(
                self.lam.put_runtime_management_config,
                FunctionName=function_arn,
                Qualifier=state.candidate_version,
                UpdateRuntimeOn="Auto",
            )
        _transient(
            self.lam.put_runtime_management_config,
            FunctionName=function_arn,
            UpdateRuntimeOn="Auto",
        )

    def verify(self, pin: Pin, state: CanaryState) -> CanaryState:
        """After the post-promotion bake: the new runtime, alone, against the canary's baseline."""
        if state.strategy == "alias" and not self._alias_promoted(pin, state):
            raise Stop(
                f"alias {state.alias} was changed by someone else after promotion: handing back",
                hand_back=True,
            )
        end = utc_now()
        start = parse_iso(state.window_start)
        if state.strategy == "alias":
            candidate = self._sample(pin, state, state.candidate_version, start, end)
            last = state.verdicts[-1] if state.verdicts else {}
            baseline = VersionSample(
                invocations=int(last.get("baseline_invocations", 0) or 0),
                errors=int(last.get("baseline_errors", 0) or 0),
            )
        else:
            candidate = self._unqualified_sample(pin, start, end)
            span = end - start
            baseline = self._unqualified_sample(pin, start - span, start)
        firing = self._alarms_in_alarm(self._alarm_names(read_tags(self.lam, pin.key.function_arn)))
        verdict = judge(candidate, baseline, firing, self.judge_policy)
        state.verdicts = [
            *state.verdicts,
            {"step": "post-promotion", "outcome": str(verdict.outcome), **verdict.evidence},
        ][-8:]
        if verdict.outcome is Outcome.FAIL:
            state.next, state.reason = "rollback", "after promotion: " + "; ".join(verdict.reasons)
        else:
            # Inconclusive after promotion (too little traffic) is accepted: the candidate already
            # passed its steps, and AWS keeps Auto functions patched from here on.
            state.next = "resolved"
        return state

    def _unqualified_sample(self, pin: Pin, start: datetime, end: datetime) -> VersionSample:
        dimensions = [{"Name": "FunctionName", "Value": pin.key.function_name}]
        values = self._metric_values(
            dimensions,
            {"invocations": ("Invocations", "Sum"), "errors": ("Errors", "Sum")},
            start,
            end,
        )
        invocations = int(sum(values.get("invocations", [])))
        return VersionSample(
            invocations=invocations, errors=min(invocations, int(sum(values.get("errors", []))))
        )

    def resolve(self, pin: Pin, state: CanaryState) -> Pin:
        now = utc_now()
        outcome = {
            "result": "resolved",
            "at": iso(now),
            "detail": state.reason or "promoted and verified",
        }
        evidence = with_attempt(
            {**_settled(pin.evidence), "canary": state.to_dict()},
            Attempt("promoted", now, outcome["detail"], state.candidate_runtime_arn),
        )
        pin = self.ledger.update(pin, now, stage=Stage.RESOLVED, evidence=evidence, outcome=outcome)
        self.audit.record(
            AuditEvent.PROMOTED,
            pin_id=pin.key.id,
            candidate_version=state.candidate_version,
            runtime_version_arn=state.candidate_runtime_arn,
            verdicts=state.verdicts,
        )
        self.audit.record(AuditEvent.RESOLVED, pin_id=pin.key.id, detail=outcome["detail"])
        self._notify(
            NoticeKind.PROMOTED,
            pin,
            next_step="Nothing: the function follows AWS runtime updates again (Auto).",
            facts={
                "Candidate version": state.candidate_version or "-",
                "Runtime version ARN": state.candidate_runtime_arn or "-",
            },
        )
        return pin

    # ------------------------------------------------------------------ roll back
    def rollback(self, pin: Pin, state: CanaryState, reason: str) -> Pin:
        """Restore exactly what was: alias 100% baseline, `$LATEST` Manual on the pinned ARN.
        Idempotent; leaves an alias alone if a human has taken it over."""
        function_arn = pin.key.function_arn
        restored: list[str] = []
        alias = None
        if state.strategy == "alias" and state.alias and state.baseline_version:
            alias = _unless_gone(self.lam.get_alias, FunctionName=function_arn, Name=state.alias)
            if alias is None:
                restored.append(f"alias {state.alias} no longer exists")
        if alias is not None:
            weights = (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
            ours = str(alias["FunctionVersion"]) in {
                state.baseline_version,
                state.candidate_version,
            } and set(weights) <= {state.candidate_version}
            if ours:
                try:
                    self._update_alias(
                        pin,
                        state,
                        str(alias.get("RevisionId") or ""),
                        FunctionVersion=state.baseline_version,
                        RoutingConfig={"AdditionalVersionWeights": {}},
                    )
                    restored.append(f"alias {state.alias} 100% on version {state.baseline_version}")
                except Stop:
                    restored.append(f"alias {state.alias} left as a human set it")
            else:
                restored.append(f"alias {state.alias} left as a human set it")
        live = _unless_gone(
            self.lam.get_runtime_management_config, FunctionName=function_arn, Qualifier=LATEST
        )
        if live is None:  # deleted mid-canary: nothing left to restore; the tracker closes the pin
            restored.append("the function no longer exists")
        else:
            mode, arn = live["UpdateRuntimeOn"], live.get("RuntimeVersionArn")
            if mode == UpdateMode.FUNCTION_UPDATE or (state.promoted and mode == UpdateMode.AUTO):
                _transient(
                    self.lam.put_runtime_management_config,
                    FunctionName=function_arn,
                    UpdateRuntimeOn="Manual",
                    RuntimeVersionArn=state.pinned_arn or pin.pinned_runtime_version_arn,
                )
                restored.append("$LATEST Manual on the original runtime version")
            elif not (
                mode == UpdateMode.MANUAL
                and arn == (state.pinned_arn or pin.pinned_runtime_version_arn)
            ):
                restored.append(f"$LATEST left as a human set it ({mode})")
        original = state.baseline_setting
        if (
            live is not None
            and state.baseline_version
            and original
            and original.get("UpdateRuntimeOn") != "Manual"
        ):
            _transient(
                self.lam.put_runtime_management_config,
                FunctionName=function_arn,
                Qualifier=state.baseline_version,
                UpdateRuntimeOn=original["UpdateRuntimeOn"],
            )
            restored.append(
                f"version {state.baseline_version} back to {original['UpdateRuntimeOn']}"
            )
        now = utc_now()
        evidence = with_attempt(
            {
                **_settled(pin.evidence),
                "last_canary": {
                    **state.to_dict(),
                    "rolled_back_because": reason,
                    "restored": restored,
                },
            },
            Attempt("rolled_back", now, reason, state.candidate_runtime_arn),
        )
        pin = self.ledger.update(pin, now, stage=Stage.TRACKING, evidence=evidence)
        self.audit.record(
            AuditEvent.ROLLED_BACK,
            pin_id=pin.key.id,
            reason=reason,
            restored=restored,
            verdicts=state.verdicts,
        )
        self._notify(
            NoticeKind.ROLLED_BACK,
            pin,
            next_step="The function is exactly as it was; rollforward keeps tracking the pin and asks again later.",
            facts={"Why": reason[:400], "Restored": "; ".join(restored) or "nothing had changed"},
        )
        return pin

    def stopped(self, pin: Pin, reason: str) -> Pin:
        """Preflight refused before any change: the owner learns exactly why."""
        now = utc_now()
        pin = self.ledger.update(
            pin,
            now,
            stage=Stage.TRACKING,
            evidence=with_attempt(
                {**pin.evidence, "stopped": {"at": iso(now), "reason": reason}},
                Attempt("stopped", now, reason),
            ),
        )
        self.audit.record(AuditEvent.STOPPED, pin_id=pin.key.id, reason=reason)
        self._notify(
            NoticeKind.STOPPED,
            pin,
            next_step="Nothing was changed. Fix the cause, and rollforward asks for approval again.",
            facts={"Why": reason[:400]},
        )
        return pin

    def _notify(self, kind: NoticeKind, pin: Pin, **kwargs: Any) -> None:
        """Notices are best-effort here: a failed e-mail must not roll back a healthy canary
        nor stop a rollback. The failure is audited instead."""
        try:
            self.notifier.notify(kind, pin, **kwargs)
        except Exception as error:
            self.audit.record(
                AuditEvent.FAILED, pin_id=pin.key.id, notice=str(kind), error=str(error)[:500]
            )

    # ------------------------------------------------------------------ alarms
    def _alarm_names(self, tags: dict[str, str]) -> list[str]:
        """The watched alarms: the one place the alarm tags are parsed (see `watched_alarms`)."""
        return watched_alarms(tags, self.policy.tags.alarms)

    def _alarm_states(self, names: list[str]) -> dict[str, str]:
        """Name -> state of the watched alarms that exist, metric and composite alike
        (DescribeAlarms without AlarmTypes returns metric alarms only)."""
        if not names:
            return {}
        response = _transient(
            self.cloudwatch.describe_alarms,
            AlarmNames=names[:MAX_WATCHED_ALARMS],
            AlarmTypes=["MetricAlarm", "CompositeAlarm"],
        )
        return {
            str(a["AlarmName"]): str(a.get("StateValue", ""))
            for a in response.get("MetricAlarms", []) + response.get("CompositeAlarms", [])
        }

    def _alarms_in_alarm(self, names: list[str], *, must_exist: bool = False) -> list[str]:
        states = self._alarm_states(names)
        if must_exist and (missing := [n for n in names if n not in states]):
            raise Stop(
                f"watched alarm(s) {', '.join(missing)} do not exist (tag "
                f"{self.policy.tags.alarms}): fix the tag before rolling forward"
            )
        return [name for name in names if states.get(name) == "ALARM"]


# Lambda's TagValue pattern ([\p{L}\p{Z}\p{N}_.:/=+\-@]*) admits no separator an alarm name
# cannot contain (names may hold spaces, "+", "/"...): one alarm per tag, numbered keys for more.
_WATCHED_SUFFIX: Final = re.compile(r"-(?P<n>[2-9]|[1-9][0-9]{1,2})")
MAX_WATCHED_ALARMS: Final = 100  # DescribeAlarms AlarmNames: at most 100 members


def watched_alarms(tags: Mapping[str, str], key: str) -> list[str]:
    """Alarm names from the tags `key`, `key-2`, `key-3`, … (one name each, in number order).

    A value is one alarm name, kept whole (only surrounding whitespace is dropped); empty values
    and other keys are ignored; duplicates count once. For many alarms, watch one composite.
    """
    numbered: list[tuple[int, str]] = []
    for tag, value in tags.items():
        if tag == key:
            number = 1
        elif tag.startswith(key) and (match := _WATCHED_SUFFIX.fullmatch(tag[len(key) :])):
            number = int(match.group("n"))
        else:
            continue
        if isinstance(value, str) and value.strip():
            numbered.append((number, value.strip()))
    names: list[str] = []
    for _, name in sorted(numbered):
        if name not in names:
            names.append(name)
    return names


def _settled(evidence: dict[str, Any]) -> dict[str, Any]:
    """The evidence without the in-flight record: the canary is over."""
    return {key: value for key, value in evidence.items() if key != IN_FLIGHT}


def _unless_gone(call: Any, **kwargs: Any) -> Any:
    """`call`'s answer, or None if the function (or alias) no longer exists."""
    try:
        return _transient(call, **kwargs)
    except ClientError as error:
        if error_code(error) == "ResourceNotFoundException":
            return None
        raise


def _normal(value: Any) -> Any:
    """Compare configuration values regardless of key order and of empty-vs-absent."""
    if value in (None, {}, [], ""):
        return None
    if isinstance(value, dict):
        return {k: _normal(v) for k, v in sorted(value.items()) if k not in {"ResponseMetadata"}}
    if isinstance(value, list):
        return [_normal(v) for v in value]
    return value


__all__ = ["IN_FLIGHT", "Canary", "CanaryState", "PinKey", "Stop", "watched_alarms"]
