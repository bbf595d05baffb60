"""CloudWatch composite alarms for the embedded AWS: what moto lacks or gets wrong.

What AWS does (CloudWatch API reference: PutCompositeAlarm, DescribeAlarms, DeleteAlarms; the
botocore `cloudwatch` model) and this module reproduces on moto's alarm store:

- `PutCompositeAlarm` stores an alarm whose `AlarmRule` combines other alarms' states:
  `ALARM(x)`, `OK(x)`, `INSUFFICIENT_DATA(x)` (x a name or ARN, quoted or not), `TRUE`,
  `FALSE`, `AND`, `OR`, `NOT` and parentheses. An unparsable rule, more than 100 referenced
  alarms, or a reference to an alarm that does not exist is refused (`ValidationError`) and
  changes nothing. A new composite is evaluated at once (it is INSUFFICIENT_DATA only until
  then); an update keeps the state and re-evaluates.
- A composite is ALARM while its rule is TRUE, OK while FALSE, and is re-evaluated whenever a
  member's state changes (SetAlarmState, PutMetricAlarm, PutCompositeAlarm, DeleteAlarms),
  composites of composites included. Evaluation stops on a cycle: alarms on one keep their
  state, as AWS says.
- `DescribeAlarms` returns only metric alarms unless `AlarmTypes` asks for composites
  (`CompositeAlarm`, `MetricAlarm`; moto returns both always); StateValue filters on top of
  AlarmNames / AlarmNamePrefix / ActionPrefix.
- `DeleteAlarms` refuses (`ResourceConflict`) to delete an alarm a remaining composite's rule
  references, and more than one composite alarm per call.

The rule grammar's precedence is not documented; here NOT binds tighter than AND, AND tighter
than OR (the usual order; parenthesise to be sure).
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from moto.cloudwatch.exceptions import CloudWatchException, ValidationError
from moto.cloudwatch.models import Alarm, CloudWatchBackend
from moto.cloudwatch.responses import CloudWatchResponse
from moto.core.responses import ActionResult, EmptyResult

ALARM: Final = "ALARM"
OK: Final = "OK"
INSUFFICIENT_DATA: Final = "INSUFFICIENT_DATA"
STATES: Final = (ALARM, OK, INSUFFICIENT_DATA)
METRIC_ALARM: Final = "MetricAlarm"
COMPOSITE_ALARM: Final = "CompositeAlarm"
MAX_RULE_ALARMS: Final = 100  # "as many as 100 underlying alarms" (PutCompositeAlarm)
MAX_RULE_LENGTH: Final = 10240  # AlarmRule max (botocore model)
_ALARM_ARN = re.compile(r"^arn:aws[a-z-]*:cloudwatch:[a-z0-9-]+:\d{12}:alarm:(?P<name>.+)$")

_lock = threading.RLock()
_installed = False


class ResourceConflict(CloudWatchException):
    code = "ResourceConflict"


# --- the rule -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StateIs:
    """`ALARM(x)` / `OK(x)` / `INSUFFICIENT_DATA(x)`: x (a name) is in `state`."""

    state: str
    alarm: str


@dataclass(frozen=True, slots=True)
class Constant:
    value: bool


@dataclass(frozen=True, slots=True)
class Not:
    operand: Rule


@dataclass(frozen=True, slots=True)
class BinaryOp:
    operator: str  # "AND" | "OR"
    left: Rule
    right: Rule


Rule = StateIs | Constant | Not | BinaryOp


class RuleError(ValueError):
    """The AlarmRule is not a well-formed expression."""


_TOKEN = re.compile(
    r"""\s*(?:
        (?P<func>ALARM|OK|INSUFFICIENT_DATA)\s*\(\s*
            (?:"(?P<quoted>[^"]*)"|(?P<bare>[^()"\s][^()"]*?))\s*\)
      | (?P<paren>[()])
      | (?P<word>[A-Za-z_]+)
    )""",
    re.VERBOSE,
)


def _tokens(text: str) -> list[tuple[str, str, str]]:
    """(kind, value, function) triples; kind is func | paren | op | const."""
    tokens: list[tuple[str, str, str]] = []
    position = 0
    text = text.rstrip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise RuleError(
                f"unexpected text at position {position}: {text[position : position + 20]!r}"
            )
        position = match.end()
        if match.group("func"):
            name = (
                match.group("quoted") if match.group("quoted") is not None else match.group("bare")
            )
            if not name:
                raise RuleError(f"{match.group('func')}() names no alarm")
            tokens.append(("func", name.strip(), match.group("func")))
        elif match.group("paren"):
            tokens.append(("paren", match.group("paren"), ""))
        else:
            word = match.group("word")
            if word in ("AND", "OR", "NOT"):
                tokens.append(("op", word, ""))
            elif word.upper() in ("TRUE", "FALSE"):
                tokens.append(("const", word.upper(), ""))
            else:
                raise RuleError(f"unknown word {word!r} in the alarm rule")
    return tokens


def parse_rule(text: str | None) -> Rule:
    """Parse an AlarmRule; raises RuleError with the reason."""
    if not isinstance(text, str) or not text.strip():
        raise RuleError("the alarm rule is empty")
    if len(text) > MAX_RULE_LENGTH:
        raise RuleError(f"the alarm rule is longer than {MAX_RULE_LENGTH} characters")
    tokens = _tokens(text)
    position = 0

    def peek() -> tuple[str, str, str] | None:
        return tokens[position] if position < len(tokens) else None

    def take() -> tuple[str, str, str]:
        nonlocal position
        token = peek()
        if token is None:
            raise RuleError("the alarm rule ends too early")
        position += 1
        return token

    def expression() -> Rule:
        left = conjunction()
        while (token := peek()) is not None and token[:2] == ("op", "OR"):
            take()
            left = BinaryOp("OR", left, conjunction())
        return left

    def conjunction() -> Rule:
        left = negation()
        while (token := peek()) is not None and token[:2] == ("op", "AND"):
            take()
            left = BinaryOp("AND", left, negation())
        return left

    def negation() -> Rule:
        token = peek()
        if token is not None and token[:2] == ("op", "NOT"):
            take()
            return Not(negation())
        return primary()

    def primary() -> Rule:
        kind, value, function = take()
        if kind == "func":
            return StateIs(function, _name_of(value))
        if kind == "const":
            return Constant(value == "TRUE")
        if (kind, value) == ("paren", "("):
            inner = expression()
            if take()[:2] != ("paren", ")"):
                raise RuleError("unbalanced parentheses in the alarm rule")
            return inner
        raise RuleError(f"unexpected {value!r} in the alarm rule")

    rule = expression()
    if position != len(tokens):
        raise RuleError(f"unexpected {tokens[position][1]!r} in the alarm rule")
    return rule


def _name_of(reference: str) -> str:
    """An alarm ARN names the alarm after `alarm:`; a name is itself."""
    match = _ALARM_ARN.match(reference)
    return match.group("name") if match else reference


def referenced_alarms(rule: Rule) -> frozenset[str]:
    if isinstance(rule, StateIs):
        return frozenset({rule.alarm})
    if isinstance(rule, Not):
        return referenced_alarms(rule.operand)
    if isinstance(rule, BinaryOp):
        return referenced_alarms(rule.left) | referenced_alarms(rule.right)
    return frozenset()


def evaluate(rule: Rule, states: Mapping[str, str]) -> bool:
    """The rule's truth over alarm states (an absent alarm is in no state)."""
    if isinstance(rule, StateIs):
        return states.get(rule.alarm) == rule.state
    if isinstance(rule, Constant):
        return rule.value
    if isinstance(rule, Not):
        return not evaluate(rule.operand, states)
    if rule.operator == "AND":
        return evaluate(rule.left, states) and evaluate(rule.right, states)
    return evaluate(rule.left, states) or evaluate(rule.right, states)


# --- state propagation ----------------------------------------------------------------------


def _composites(backend: CloudWatchBackend) -> dict[str, Alarm]:
    return {name: alarm for name, alarm in backend.alarms.items() if alarm.rule is not None}


def _on_cycle(composites: Mapping[str, Alarm]) -> set[str]:
    """Composites that (transitively) depend on themselves."""
    graph = {
        name: referenced_alarms(parse_rule(a.rule)) & composites.keys()
        for name, a in composites.items()
    }
    cyclic: set[str] = set()
    for start in graph:
        stack, seen = list(graph[start]), set()
        while stack:
            node = stack.pop()
            if node == start:
                cyclic.add(start)
                break
            if node not in seen:
                seen.add(node)
                stack.extend(graph.get(node, ()))
    return cyclic


def recompute(backend: CloudWatchBackend) -> None:
    """Re-evaluate every composite alarm until nothing changes (members first)."""
    with _lock:
        composites = _composites(backend)
        if not composites:
            return
        frozen = _on_cycle(composites)
        rules = {name: parse_rule(alarm.rule) for name, alarm in composites.items()}
        for _ in range(len(composites) + 1):
            changed = False
            states = {name: alarm.state_value for name, alarm in backend.alarms.items()}
            for name, alarm in composites.items():
                if name in frozen:
                    continue
                new = ALARM if evaluate(rules[name], states) else OK
                if new != alarm.state_value:
                    alarm.update_state(
                        f"arn:aws:cloudwatch:{backend.region_name}:{backend.account_id}:alarm:"
                        f"{name} transitioned to {new}: the alarm rule evaluated to "
                        f"{str(new == ALARM).upper()}",
                        "{}",
                        new,
                    )
                    states[name] = new
                    changed = True
            if not changed:
                return


def put_composite_alarm(
    backend: CloudWatchBackend,
    *,
    name: str,
    rule: str,
    description: str = "",
    actions_enabled: bool | None = None,
    alarm_actions: list[str] | None = None,
    ok_actions: list[str] | None = None,
    insufficient_data_actions: list[str] | None = None,
    tags: list[dict[str, str]] | None = None,
) -> Alarm:
    with _lock:
        try:
            parsed = parse_rule(rule)
        except RuleError as error:
            raise ValidationError(f"Error in alarm rule: {error}.") from None
        members = referenced_alarms(parsed)
        if len(members) > MAX_RULE_ALARMS:
            raise ValidationError(
                f"The alarm rule references {len(members)} alarms; at most {MAX_RULE_ALARMS} are allowed."
            )
        missing = sorted(m for m in members if m not in backend.alarms and m != name)
        if missing:
            raise ValidationError(
                f"Could not save the composite alarm as alarms {missing} in the alarm rule do not exist"
            )
        existing = backend.alarms.get(name)
        if existing is not None and existing.rule is None:
            raise ValidationError(f"The alarm {name} is a metric alarm, not a composite alarm.")
        alarm = Alarm(
            account_id=backend.account_id,
            region_name=backend.region_name,
            name=name,
            namespace=None,  # type: ignore[arg-type]
            metric_name=None,  # type: ignore[arg-type]
            metric_data_queries=None,
            comparison_operator=None,  # type: ignore[arg-type]
            evaluation_periods=None,  # type: ignore[arg-type]
            datapoints_to_alarm=None,
            period=None,  # type: ignore[arg-type]
            threshold=None,  # type: ignore[arg-type]
            statistic=None,  # type: ignore[arg-type]
            extended_statistic=None,
            description=description or "",
            dimensions=[],
            alarm_actions=list(alarm_actions or []),
            ok_actions=list(ok_actions or []),
            insufficient_data_actions=list(insufficient_data_actions or []),
            unit=None,
            actions_enabled=True if actions_enabled is None else actions_enabled,
            treat_missing_data=None,
            evaluate_low_sample_count_percentile=None,
            threshold_metric_id=None,
            rule=rule,
        )
        if existing is not None:  # an update keeps the state, then re-evaluates
            alarm.state_value = existing.state_value
            alarm.state_reason = existing.state_reason
            alarm.state_reason_data = existing.state_reason_data
            alarm.state_updated_timestamp = existing.state_updated_timestamp
            alarm.history = existing.history
        else:
            alarm.state_value = INSUFFICIENT_DATA
        backend.alarms[name] = alarm
        if tags:
            backend.tagger.tag_resource(alarm.alarm_arn, tags)
        recompute(backend)
        return alarm


def describe_alarms(
    backend: CloudWatchBackend, params: Callable[[str, Any], Any]
) -> dict[str, list[Alarm]]:
    alarm_types = params("AlarmTypes", []) or [METRIC_ALARM]
    unknown = [t for t in alarm_types if t not in (METRIC_ALARM, COMPOSITE_ALARM, "LogAlarm")]
    if unknown:
        raise ValidationError(
            f"1 validation error detected: Value '{unknown}' at 'alarmTypes' failed to satisfy "
            "constraint: Member must satisfy constraint: [Member must satisfy enum value set: "
            "[CompositeAlarm, MetricAlarm, LogAlarm]]"
        )
    names = params("AlarmNames", [])
    prefix = params("AlarmNamePrefix", None)
    action_prefix = params("ActionPrefix", None)
    state = params("StateValue", None)
    alarms: Iterable[Alarm] = list(backend.alarms.values())
    if names:
        alarms = [a for a in alarms if a.name in names]
    elif prefix:
        alarms = [a for a in alarms if a.name.startswith(prefix)]
    if action_prefix:
        alarms = [a for a in alarms if any(x.startswith(action_prefix) for x in a.alarm_actions)]
    if state:
        alarms = [a for a in alarms if a.state_value == state]
    return {
        "MetricAlarms": [a for a in alarms if a.rule is None]
        if METRIC_ALARM in alarm_types
        else [],
        "CompositeAlarms": (
            [a for a in alarms if a.rule is not None] if COMPOSITE_ALARM in alarm_types else []
        ),
    }


def _refuse_deleting_members(backend: CloudWatchBackend, names: list[str]) -> None:
    doomed = set(names)
    composites = [n for n in doomed if n in backend.alarms and backend.alarms[n].rule is not None]
    if len(composites) > 1:
        raise ResourceConflict(
            "You can delete no more than one composite alarm per DeleteAlarms call."
        )
    for parent, alarm in _composites(backend).items():
        if parent in doomed:
            continue
        needed = referenced_alarms(parse_rule(alarm.rule)) & doomed
        if needed:
            raise ResourceConflict(
                f"Alarm(s) {sorted(needed)} cannot be deleted: composite alarm {parent} "
                "references them in its alarm rule."
            )


# --- moto patches ---------------------------------------------------------------------------


def _put_composite_alarm_action(self: CloudWatchResponse) -> EmptyResult:
    put_composite_alarm(
        self.cloudwatch_backend,
        name=self._get_param("AlarmName"),
        rule=self._get_param("AlarmRule"),
        description=self._get_param("AlarmDescription", ""),
        actions_enabled=self._get_bool_param("ActionsEnabled"),
        alarm_actions=self._get_param("AlarmActions", []),
        ok_actions=self._get_param("OKActions", []),
        insufficient_data_actions=self._get_param("InsufficientDataActions", []),
        tags=self._get_param("Tags", []),
    )
    return EmptyResult()


def _describe_alarms_action(self: CloudWatchResponse) -> ActionResult:
    return ActionResult(describe_alarms(self.cloudwatch_backend, self._get_param))


def _then_recompute(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def wrapper(self: CloudWatchBackend, *args: Any, **kwargs: Any) -> Any:
        with _lock:
            result = original(self, *args, **kwargs)
            recompute(self)
            return result

    return wrapper


def _patched_delete_alarms(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def delete_alarms(self: CloudWatchBackend, alarm_names: list[str]) -> Any:
        with _lock:
            _refuse_deleting_members(self, list(alarm_names))
            result = original(self, alarm_names)
            recompute(self)
            return result

    return delete_alarms


def install() -> None:
    global _installed
    with _lock:
        if _installed:
            return
        CloudWatchResponse.put_composite_alarm = _put_composite_alarm_action  # type: ignore[attr-defined]
        CloudWatchResponse.describe_alarms = _describe_alarms_action  # type: ignore[method-assign]
        for name in ("set_alarm_state", "put_metric_alarm"):
            setattr(CloudWatchBackend, name, _then_recompute(getattr(CloudWatchBackend, name)))
        CloudWatchBackend.delete_alarms = _patched_delete_alarms(CloudWatchBackend.delete_alarms)  # type: ignore[method-assign]
        _installed = True
