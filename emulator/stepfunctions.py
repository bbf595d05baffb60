"""Step Functions on the virtual clock, as strict as AWS.

moto's ASL interpreter (LocalStack's) waits in real time and forgives what AWS refuses. Here:

- every Wait state and every `.waitForTaskToken` timeout runs on `STATE.clock`, so advancing the
  clock by 14 days ends a 14-day Wait at once; a parked execution blocks on an event (woken by
  the clock, a callback or a stop) and costs no CPU while it waits;
- a Choice rule on a path absent from its input, and a ResultPath into a value that is not an
  object, fail the execution with `States.Runtime`; `States.Runtime` is never retried or caught,
  and `States.ALL` does not catch `States.DataLimitExceeded`;
- `SendTask*` with the token of a task that is closed (answered, timed out, or its execution no
  longer running) answers `TaskTimedOut`; output that is not JSON answers `InvalidOutput`;
- StopExecution is synchronous: ABORTED at once, with the given error and cause;
- an execution starts at the emulated now (`startDate`, `$$.Execution.StartTime`) and lasts at
  most one year on that clock (or its definition's `TimeoutSeconds`): then it ends TIMED_OUT,
  wherever it waits (a Wait that ends in the same advance of the clock ends with it);
- a Map in DISTRIBUTED mode must name its children's `ExecutionType`, and its Map Run fails with
  `States.ExceedToleratedFailureThreshold` when more children fail than it tolerates (by
  default none); definition errors answer `InvalidDefinition`; its `ResultWriter` writes the
  children's results to S3 as AWS does (`result_files`: SUCCEEDED_0.json, FAILED_0.json and the
  manifest); an integral `ToleratedFailurePercentage` is a number like any other (moto's grammar
  refused `100`), a failed child's reason is logged as a warning, and (IAM enforced) the
  execution's role must be allowed `states:StartExecution` on its own state machine, or the Map
  fails with `States.Runtime` before any child runs;
- an embedded AWS that shuts down stops every execution still evaluating, whatever its region
  or account (`stop_leftover_executions`), and waits for them to leave the task they were in
  (`wait_for_interpreters`), so none acts in, or delays the shutdown of, the next one.

Each rule has a row in docs/parity/stepfunctions.md and a test in
tests/emulator/test_stepfunctions_strict.py (the Map rules: test_stepfunctions_map.py).
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import re
import threading
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from emulator.clock import VirtualClock, nudge
from emulator.state import STATE

_installed = False
LOG = logging.getLogger(__name__)
# A path string's parsed JSONPath: moto parses every path on every evaluation (~0.5 ms each,
# thousands per canary). Parsed expressions are never mutated (find/update take the data).
JSONPATH_CACHE_SIZE = 4096
# A definition's ANTLR syntax tree: moto lexes and parses a definition when it is created
# (several times) and when each execution starts (~65 ms for the remediation workflow). Visitors
# only read the tree; each parse still preprocesses a fresh program from it.
ASL_TREE_CACHE_SIZE = 64
# One answer per task token, however many callers race (check-then-notify is atomic).
_CALLBACK_LOCK = threading.Lock()
# 256 KiB of UTF-8 JSON: the quota on a state's input, output and a task's result.
MAX_PAYLOAD_BYTES = 256 * 1024
_SIMPLE_REFERENCE_PATH = re.compile(r"^\$(\.[^.\[\]]+)+$")


class VirtualTimeoutEvent(threading.Event):
    """An Event whose `wait(timeout)` measures the timeout on the virtual clock.

    `set()` (a callback answered, a heartbeat, a stop) wakes the waiter at once; an advance of
    the clock nudges it to recompute; otherwise it sleeps until the deadline in real time.
    """

    def wait(self, timeout: float | None = None) -> bool:
        if timeout is None:
            return super().wait()
        clock: VirtualClock = STATE.clock
        clock.sleep_until(clock.now() + timedelta(seconds=timeout), self)
        return self.is_set()


def _virtual_wait_interval(self: object, env: Any, wait_seconds: int) -> None:
    """Replacement for WaitFunction._wait_interval: sleep on the virtual clock.

    The environment pulses `program_state_event` when the execution stops or ends, so a stopped
    execution leaves its Wait at once. A Wait whose end comes with the execution's own deadline
    (one advance of the clock past both) ends with the execution, TIMED_OUT: it waits for the
    program's sleeper to say so instead of leading into the next state, which AWS would never
    start after the execution's time is up.
    """
    clock: VirtualClock = STATE.clock
    deadline = clock.now() + timedelta(seconds=max(0, wait_seconds))
    clock.sleep_until(deadline, env.program_state_event, done=lambda: not env.is_running())
    execution_deadline: datetime | None = getattr(env, _EXECUTION_DEADLINE, None)
    while execution_deadline is not None and env.is_running():
        now = clock.now()
        if now < execution_deadline:
            return
        clock.sleep_until(
            now + timedelta(seconds=1), env.program_state_event, done=lambda: not env.is_running()
        )


def _virtual_timestamp_wait_seconds(self: Any, env: Any) -> int:
    """Replacement for Timestamp._get_wait_seconds: seconds until the timestamp, virtual now."""
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
        FailureEventException,
    )

    self.string.eval(env=env)
    timestamp_str: str = env.stack.pop()
    timestamp = self._from_timestamp_string(timestamp=timestamp_str)
    if timestamp is None:
        raise FailureEventException(self._create_failure_event(env, timestamp_str))
    now = STATE.clock.now().replace(tzinfo=None)  # the interpreter parses `...Z` as naive UTC
    return int((timestamp - now).total_seconds())


# --- ASL strictness -------------------------------------------------------------------------


def _runtime_failure(env: Any, cause: str) -> Exception:
    """The exception moto's interpreter turns into a failed state with `States.Runtime`."""
    from moto.stepfunctions.parser.api import HistoryEventType, TaskFailedEventDetails
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
        FailureEvent,
        FailureEventException,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import (
        StatesErrorName,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
        StatesErrorNameType,
    )
    from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails

    runtime = StatesErrorNameType.StatesRuntime
    return FailureEventException(
        failure_event=FailureEvent(
            env=env,
            error_name=StatesErrorName(typ=runtime),
            event_type=HistoryEventType.TaskFailed,
            event_details=EventDetails(  # type: ignore[typeddict-item]
                taskFailedEventDetails=TaskFailedEventDetails(error=runtime.to_name(), cause=cause)
            ),
        )
    )


def _strict_comparison_variable(self: Any, env: Any) -> None:
    """A Choice rule's Variable must exist in the input (AWS: States.Runtime); only IsPresent
    may test a missing path. moto evaluates the rule to false and takes another branch."""
    from moto.stepfunctions.parser.asl.component.state.choice.comparison.variable import (
        NoSuchVariable,
    )

    self.variable.eval(env)
    operator = getattr(self.comparison_function, "operator_type", None)
    if isinstance(env.stack[-1], NoSuchVariable) and operator in _VALUE_OPERATORS:
        path = self.variable.string_sampler.literal_value
        raise _runtime_failure(
            env,
            f"Invalid path '{path}': The choice state's condition path references an invalid "
            "value.",
        )
    self.comparison_function.eval(env)


_VALUE_OPERATORS: frozenset[Any] = frozenset()


def _value_operators() -> frozenset[Any]:
    """Operators that compare the variable's value: on a missing path AWS fails the execution.
    The type tests (IsPresent, IsNull, IsString, ...) are left as moto evaluates them."""
    from moto.stepfunctions.parser.asl.component.state.choice.comparison.comparison_operator_type import (
        ComparisonOperatorType,
    )

    prefixes = ("String", "Numeric", "Boolean", "Timestamp")
    return frozenset(op for op in ComparisonOperatorType if op.name.startswith(prefixes))


def _strict_result_path(original: Any) -> Any:
    """ResultPath `$.a.b` needs an object at `$` and at `$.a` (if present); AWS fails with
    States.Runtime otherwise. moto silently drops the result (array input) or crashes with a
    TypeError."""

    def eval_body(self: Any, env: Any) -> None:
        path = self.result_path_src
        if path is not None and path != "$" and _SIMPLE_REFERENCE_PATH.match(path):
            node = env.states.get_input()
            keys = path[2:].split(".")
            for key in keys:
                if not isinstance(node, dict):
                    raise _runtime_failure(
                        env,
                        f"Unable to apply ResultPath '{path}' to input "
                        f"'{json.dumps(env.states.get_input(), separators=(',', ':'))}'",
                    )
                if key not in node:
                    break
                node = node[key]
        original(self, env)

    return eval_body


def _strict_error_equals(original: Any) -> Any:
    """States.Runtime is never retried or caught; States.ALL does not match
    States.DataLimitExceeded (only naming it does). moto's States.ALL matches everything."""
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import (
        StatesErrorName,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
        StatesErrorNameType,
    )

    runtime = StatesErrorNameType.StatesRuntime
    data_limit = StatesErrorNameType.StatesStatesDataLimitExceeded

    def eval_body(self: Any, env: Any) -> None:
        error_name = env.stack[-1]
        if isinstance(error_name, StatesErrorName) and error_name.typ in (runtime, data_limit):
            env.stack.pop()
            named = error_name.typ == data_limit and any(
                isinstance(name, StatesErrorName) and name.typ == data_limit
                for name in self.error_names
            )
            env.stack.append(named)
            return
        original(self, env)

    return eval_body


MAX_TIMEOUT_SECONDS = 99_999_999
# Where `_eval_on_the_clock` keeps an execution's deadline on its environment (Wait states read it).
_EXECUTION_DEADLINE = "_rollforward_execution_deadline"
# Standard workflows: "Maximum execution time: 1 year" (Step Functions quotas).
MAX_EXECUTION_DURATION = timedelta(days=365)


def _strict_timeout_seconds_path(original: Any) -> Any:
    """TimeoutSecondsPath must select a positive integer (at most 99999999); AWS fails the
    execution with States.Runtime otherwise. moto times out at once on 0 or a negative value
    and waits a fractional timeout."""
    from moto.stepfunctions.parser.asl.utils.json_path import NoSuchJsonPathError

    def eval_seconds(self: Any, env: Any) -> int:
        try:
            self.string_sampler.eval(env=env)
        except NoSuchJsonPathError:
            return original(self, env)  # type: ignore[no-any-return]  # raises States.Runtime
        seconds = env.stack.pop()
        valid = isinstance(seconds, int) and not isinstance(seconds, bool)
        if not valid or not 0 < seconds <= MAX_TIMEOUT_SECONDS:
            path = self.string_sampler.literal_value
            raise _runtime_failure(
                env,
                f"The TimeoutSecondsPath parameter does not reference a positive integer: "
                f"{path} == {json.dumps(seconds)}",
            )
        return int(seconds)

    return eval_seconds


def is_within_size_quota(value: Any) -> bool:
    """At most 256 KiB as UTF-8 JSON. moto measures a string without its quotes and refuses
    exactly 256 KiB."""
    from moto.stepfunctions.parser.asl.utils.encoding import to_json_str

    return len(to_json_str(value, separators=(",", ":")).encode("utf-8")) <= MAX_PAYLOAD_BYTES


# --- task tokens ----------------------------------------------------------------------------


def _find_callback(backend: Any, token: str) -> tuple[Any, Any] | None:
    """(execution, callback endpoint) holding `token`, in any execution of any status."""
    for machine in backend.state_machines:
        for execution in machine.executions:
            worker = getattr(execution, "exec_worker", None)
            env = getattr(worker, "env", None)
            if env is None:
                continue
            endpoint = env.callback_pool_manager.get(token)
            if endpoint is not None:
                return execution, endpoint
    return None


def _open_callback(backend: Any, token: str) -> tuple[Any, Any]:
    """The endpoint of an open task, or AWS's refusal: InvalidToken for a token that never
    was, TaskTimedOut for one whose task closed (answered, timed out, execution not running)."""
    from moto.core.exceptions import AWSError
    from moto.stepfunctions.parser.api import ExecutionStatus

    found = _find_callback(backend, token)
    if found is None:
        raise AWSError("Invalid Token: 'Invalid token'", exception_type="InvalidToken")
    execution, endpoint = found
    closed = (
        execution.exec_status != ExecutionStatus.RUNNING
        or not execution.exec_worker.env.is_running()
        or endpoint.get_outcome() is not None
        or endpoint.consumer_error is not None
    )
    if closed:
        raise AWSError(
            "Task Timed Out: 'Provided task does not exist anymore'", exception_type="TaskTimedOut"
        )
    return execution, endpoint


def _send_task_success(self: Any, task_token: str, outcome: str) -> Any:
    from moto.core.exceptions import AWSError
    from moto.stepfunctions.parser.api import SendTaskSuccessOutput
    from moto.stepfunctions.parser.asl.eval.callback.callback import CallbackOutcomeSuccess

    try:
        json.loads(outcome)
    except (TypeError, ValueError):
        raise AWSError(
            "Invalid Output: the output is not valid JSON", exception_type="InvalidOutput"
        ) from None
    with _CALLBACK_LOCK:
        _, endpoint = _open_callback(self, task_token)
        endpoint.notify(CallbackOutcomeSuccess(callback_id=task_token, output=outcome))
    return SendTaskSuccessOutput()


def _send_task_failure(
    self: Any, task_token: str, error: str | None = None, cause: str | None = None
) -> Any:
    from moto.stepfunctions.parser.api import SendTaskFailureOutput
    from moto.stepfunctions.parser.asl.eval.callback.callback import CallbackOutcomeFailure

    with _CALLBACK_LOCK:
        _, endpoint = _open_callback(self, task_token)
        endpoint.notify(CallbackOutcomeFailure(callback_id=task_token, error=error, cause=cause))
    return SendTaskFailureOutput()


def _send_task_heartbeat(self: Any, task_token: str) -> Any:
    """A heartbeat on an open task is accepted, whether or not it declares HeartbeatSeconds."""
    from moto.stepfunctions.parser.api import SendTaskHeartbeatOutput

    with _CALLBACK_LOCK:
        _, endpoint = _open_callback(self, task_token)
        endpoint.notify_heartbeat()
    return SendTaskHeartbeatOutput()


def _send_task_failure_response(self: Any) -> Any:
    """moto's handler drops `cause`; AWS hands it to the Catch."""
    from moto.core.responses import EmptyResult

    self.stepfunction_backend.send_task_failure(
        self._get_param("taskToken"), error=self._get_param("error"), cause=self._get_param("cause")
    )
    return EmptyResult()


# --- executions -----------------------------------------------------------------------------


def _stop_execution_response(self: Any) -> Any:
    """StopExecution as AWS does it: the execution is ABORTED when the call returns, with the
    given error and cause, and its open tasks are closed. moto stops it whenever the
    interpreter thread notices, drops error and cause, and answers a null stopDate."""
    from moto.core.responses import ActionResult
    from moto.stepfunctions.parser.api import ExecutionStatus

    arn = self._get_param("executionArn")
    error, cause = self._get_param("error"), self._get_param("cause")
    backend = self.stepfunction_backend
    backend._validate_execution_arn(arn)
    machine = backend._get_state_machine_for_execution(arn)
    execution = next((x for x in machine.executions if x.execution_arn == arn), None)
    if execution is None:
        return _original["stop_execution"](self)
    if execution.exec_status == ExecutionStatus.RUNNING:
        stopped_at = STATE.clock.now()
        execution.stop(stop_date=stopped_at, error=error, cause=cause)
        execution.exec_status = ExecutionStatus.ABORTED
        execution.stop_date = stopped_at
        execution.error, execution.cause = error, cause
        env = execution.exec_worker.env
        nudge(env.program_state_event)
        # Wake the interpreter threads parked on callbacks: they end instead of lingering
        # until their timeout.
        for endpoint in list(env.callback_pool_manager._pool.values()):
            endpoint.interrupt_all()
    return ActionResult({"stopDate": execution.stop_date})


def _describe_execution_response(self: Any) -> Any:
    """DescribeExecution as AWS answers it: `output` is always JSON (moto hands a string output
    out raw), and every ended execution, TIMED_OUT included, has a stopDate."""
    from moto.core.responses import ActionResult
    from moto.stepfunctions.parser.api import ExecutionStatus

    arn = self._get_param("executionArn")
    execution = self.stepfunction_backend.describe_execution(arn)
    response: dict[str, Any] = {
        "executionArn": arn,
        "input": execution.execution_input,
        "name": execution.name,
        "startDate": execution.start_date,
        "stateMachineArn": execution.state_machine_arn,
        "status": execution.status,
    }
    if execution.status != ExecutionStatus.RUNNING.value:
        response["stopDate"] = execution.stop_date
    if execution.status == ExecutionStatus.SUCCEEDED.value:
        response["output"] = json.dumps(execution.output, separators=(",", ":"))
        response["outputDetails"] = execution.output_details
    if execution.error is not None:
        response["error"] = execution.error
    if execution.cause is not None:
        response["cause"] = execution.cause
    return ActionResult(response)


def _errors_do_not_undo_a_stop(original: Any) -> Any:
    """Once stopped, an execution stays ABORTED (once timed out, TIMED_OUT): the failure of a
    task interrupted by the stop must not turn it into FAILED (moto's set_error overwrites any
    state)."""
    from moto.stepfunctions.parser.asl.eval.program_state import ProgramStopped, ProgramTimedOut

    def set_error(self: Any, error: Any) -> None:
        if isinstance(self._program_state, ProgramStopped | ProgramTimedOut):
            return
        original(self, error)

    return set_error


def _start_execution_named(original: Any) -> Any:
    """AWS names an unnamed execution with a UUID; moto names it None, so a second unnamed
    start collides with the first (ExecutionAlreadyExists)."""

    def start_execution(
        self: Any,
        state_machine_arn: str,
        name: str | None = None,
        execution_input: str | None = None,
        trace_header: str | None = None,
    ) -> Any:
        return original(
            self, state_machine_arn, name or str(uuid.uuid4()), execution_input, trace_header
        )

    return start_execution


def _virtual_start(original: Any) -> Any:
    """An execution starts at the emulated now: its `startDate`, `$$.Execution.StartTime` and
    the one-year cap are on the clock the Wait states use (moto stamps the real now)."""

    def start(self: Any) -> None:
        self.start_date = STATE.clock.now()
        original(self)

    return start


def _virtual_stop_date(original: Any) -> Any:
    """An ended execution's `stopDate` is the emulated now (a StopExecution keeps its own)."""

    def reflect(self: Any) -> None:
        stopped_at = self.execution.stop_date
        original(self)
        self.execution.stop_date = stopped_at or STATE.clock.now()

    return reflect


class _Evaluating:
    """How many executions' programs are being evaluated: an execution stopped when its embedded
    AWS shuts down still finishes the task it is in (an in-process Lambda handler), and must not
    do so in the next embedded AWS, whose tables and functions have the same names."""

    def __init__(self) -> None:
        self._count = 0
        self._changed = threading.Condition()
        self._envs: dict[int, Any] = {}  # the evaluating executions' environments, by id

    @contextlib.contextmanager
    def evaluating(self, env: Any) -> Iterator[None]:
        with self._changed:
            self._count += 1
            self._envs[id(env)] = env
        try:
            yield
        finally:
            with self._changed:
                self._count -= 1
                self._envs.pop(id(env), None)
                self._changed.notify_all()

    def stop_all(self, cause: str) -> int:
        """Stop every execution still evaluating, whatever its account or region (an
        embedded AWS's shutdown stops its own region's through the API; one it missed, or one
        a late delivery started, would otherwise stay parked and keep the count above 0 for
        every later shutdown). How many were stopped."""
        with self._changed:
            envs = list(self._envs.values())
        stopped = 0
        for env in envs:
            if env.is_running():
                env.set_stop(stop_date=STATE.clock.now(), cause=cause, error=None)
                nudge(env.program_state_event)
                for endpoint in list(env.callback_pool_manager._pool.values()):
                    endpoint.interrupt_all()
                stopped += 1
        return stopped

    def wait_until_none(self, timeout: float) -> int:
        """Wait up to `timeout` real seconds for every evaluation to end; how many remain."""
        with self._changed:
            self._changed.wait_for(lambda: self._count <= 0, timeout=timeout)
            return max(0, self._count)


EVALUATING = _Evaluating()


def last_event_type(execution_arn: str) -> str | None:
    """The type of an execution's latest history event (None before its first), read in
    process: what `GetExecutionHistory`'s last event says, without copying and serializing the
    whole history on every poll (a test's wait for quiescence polls every running execution)."""
    from moto.stepfunctions.responses import get_backend

    _, _, _, region, account, *_ = execution_arn.split(":")
    execution: Any = get_backend(account, region).describe_execution(execution_arn)
    worker = getattr(execution, "exec_worker", None)
    env = worker.env if worker is not None else None
    if env is None:
        return None
    events = env.event_manager
    with events._mutex:
        history = events._history_event_list
        if not history:
            return None
        event_type = history[-1]["type"]
    return str(getattr(event_type, "value", event_type))


def stop_leftover_executions(cause: str = "embedded AWS shut down") -> int:
    """At shutdown, after the API stopped the embedded AWS's own executions: stop any still
    evaluating (another region or account, or started by a late delivery). Left running, one
    stays parked for ever and every later shutdown waits its whole timeout for it."""
    stopped = EVALUATING.stop_all(cause)
    if stopped:
        LOG.warning("%d execution(s) still running at shutdown were stopped", stopped)
    return stopped


def wait_for_interpreters(timeout: float = 30.0) -> int:
    """After stopping every execution: wait until no interpreter thread is still inside one
    (the tasks they were in finish); how many remain after `timeout` (0: quiescent)."""
    remaining = EVALUATING.wait_until_none(timeout)
    if remaining:
        LOG.warning("%d execution(s) still evaluating after %.0fs", remaining, timeout)
    return remaining


def _capped_program_eval(program_class: Any) -> Any:
    """Program.eval on the emulated clock: the execution ends TIMED_OUT one year after it
    started (or after the definition's `TimeoutSeconds`), whatever state it is in. moto joins
    its worker for `TimeoutSeconds` of real time only, and has no one-year limit."""

    def eval_program(self: Any, env: Any) -> None:
        if type(self) is not program_class or env.is_frame():
            return _original["program_eval"](self, env)  # type: ignore[no-any-return]
        with EVALUATING.evaluating(env):
            _eval_on_the_clock(program_class, self, env)

    return eval_program


def _eval_on_the_clock(program_class: Any, self: Any, env: Any) -> None:
    """One execution's program: its states on a worker thread, until it ends, is stopped or
    reaches its deadline on the emulated clock (then TIMED_OUT)."""
    started = env.states.context_object.context_object_data["Execution"]["StartTime"]
    limit = MAX_EXECUTION_DURATION
    if self.timeout_seconds is not None:
        limit = min(limit, timedelta(seconds=self.timeout_seconds.timeout_seconds))
    deadline = (started if isinstance(started, datetime) else STATE.clock.now()) + limit
    setattr(env, _EXECUTION_DEADLINE, deadline)
    env.next_state_name = self.start_at.start_at_name
    worker = threading.Thread(target=super(program_class, self).eval, args=(env,), daemon=True)
    worker.start()
    reached = STATE.clock.sleep_until(
        deadline, env.program_state_event, done=lambda: not env.is_running()
    )
    if reached and env.is_running():
        env.set_timed_out()
        for endpoint in list(env.callback_pool_manager._pool.values()):
            endpoint.interrupt_all()  # a task parked on its token ends too
    worker.join()


_original: dict[str, Any] = {}


# --- Map in DISTRIBUTED mode ----------------------------------------------------------------


def _invalid_definition(message: str) -> Exception:
    """AWS's `InvalidDefinition` (HTTP 400), as moto's JSON error responses carry it. moto's
    parser raised a LocalStack exception its response layer could not name: the client saw an
    error with an empty code."""
    from moto.core.exceptions import AWSError

    class InvalidDefinition(AWSError):
        TYPE = "InvalidDefinition"
        STATUS = 400

    return InvalidDefinition(message)


def _map_processors(states: Any) -> Any:
    """Every Map state's ItemProcessor (or Iterator) in a States object, nested ones included."""
    if not isinstance(states, dict):
        return
    for name, state in states.items():
        if not isinstance(state, dict):
            continue
        for field in ("ItemProcessor", "Iterator"):
            processor = state.get(field)
            if isinstance(processor, dict):
                yield name, processor
                yield from _map_processors(processor.get("States"))
        for branch in state.get("Branches") or []:
            if isinstance(branch, dict):
                yield from _map_processors(branch.get("States"))


def definition_problems(definition: str) -> list[str]:
    """What AWS refuses in a definition that moto's parser accepts: a Map whose
    `ProcessorConfig.Mode` is DISTRIBUTED must say its child workflows' `ExecutionType`."""
    try:
        document = json.loads(definition)
    except ValueError:
        return []  # moto's parser says why
    problems = []
    for name, processor in _map_processors(
        document.get("States") if isinstance(document, dict) else None
    ):
        config = processor.get("ProcessorConfig") or {}
        if config.get("Mode") == "DISTRIBUTED" and "ExecutionType" not in config:
            problems.append(
                f"SCHEMA_VALIDATION_FAILED: The field 'ExecutionType' is required when the "
                f"field 'Mode' is 'DISTRIBUTED' at /States/{name}/ItemProcessor/ProcessorConfig"
            )
    return problems


def integral_percentages(definition: str) -> str:
    """The definition with every integral `ToleratedFailurePercentage` written as a decimal:
    AWS takes any number from 0 to 100 (CDK writes `100`), moto's grammar only a decimal one
    and refused `100` as a syntax error. Not JSON (moto reports that itself): unchanged."""
    if "ToleratedFailurePercentage" not in definition:
        return definition
    try:
        document = json.loads(definition)
    except ValueError:
        return definition

    def decimal(node: Any) -> Any:
        if isinstance(node, dict):
            return {
                key: float(value)
                if key == "ToleratedFailurePercentage"
                and isinstance(value, int)
                and not isinstance(value, bool)
                else decimal(value)
                for key, value in node.items()
            }
        if isinstance(node, list):
            return [decimal(item) for item in node]
        return node

    return json.dumps(decimal(document))


@functools.lru_cache(maxsize=ASL_TREE_CACHE_SIZE)
def _syntax_tree(definition: str) -> tuple[Any, tuple[str, ...]]:
    """moto's lexing and parsing of a definition (with integral percentages written as
    decimals): its ANTLR syntax tree and syntax errors, as `AmazonStateLanguageParser.parse`
    makes them before preprocessing."""
    from antlr4 import CommonTokenStream, InputStream
    from moto.stepfunctions.parser.asl.antlr.runtime.ASLLexer import ASLLexer
    from moto.stepfunctions.parser.asl.antlr.runtime.ASLParser import ASLParser
    from moto.stepfunctions.parser.asl.parse.asl_parser import SyntaxErrorListener

    listener = SyntaxErrorListener()  # type: ignore[no-untyped-call]
    parser = ASLParser(CommonTokenStream(ASLLexer(InputStream(integral_percentages(definition)))))
    parser.removeErrorListeners()
    parser.addErrorListener(listener)
    return parser.state_machine(), tuple(listener.errors)  # type: ignore[no-untyped-call]


def _parse_cached_tree(definition: str) -> tuple[Any, Any]:
    """AmazonStateLanguageParser.parse with the syntax tree cached per definition: a syntax
    error is raised as moto raises it; the program (evaluation components, which hold an
    execution's state) is preprocessed afresh from the tree on every call."""
    from moto.stepfunctions.parser.asl.parse.asl_parser import ASLParserException
    from moto.stepfunctions.parser.asl.parse.preprocessor import Preprocessor

    tree, errors = _syntax_tree(definition)
    if errors:
        raise ASLParserException(errors=list(errors))
    return Preprocessor().visit(tree), tree


def _strict_validate_definition(definition: str) -> None:
    """Replacement for StepFunctionsParserBackend._validate_definition: moto's parse, answered
    as `InvalidDefinition`, then the rules moto's grammar lacks."""
    from moto.stepfunctions.parser.asl.parse.asl_parser import (
        AmazonStateLanguageParser,
        ASLParserException,
    )

    try:
        AmazonStateLanguageParser.parse(definition)
    except ASLParserException as error:
        raise _invalid_definition(f"Invalid State Machine Definition: '{error}'") from error
    except Exception as error:
        raise _invalid_definition(
            f"Invalid State Machine Definition: '{type(error).__name__}: {error}'"
        ) from error
    problems = definition_problems(definition)
    if problems:
        raise _invalid_definition(f"Invalid State Machine Definition: '{'; '.join(problems)}'")


def exceeds_tolerance(failed: int, total: int, count: int, percentage: float) -> bool:
    """Whether a Map Run's failed (or timed-out) children exceed its tolerated failure
    threshold. None declared (both 0): any failure. Both declared: exceeding either fails it."""
    if failed <= 0:
        return False
    thresholds = []
    if count > 0:
        thresholds.append(failed > count)
    if percentage > 0:
        thresholds.append(total > 0 and 100.0 * failed / total > percentage)
    return any(thresholds) if thresholds else True


def map_run_refusal(role_arn: str, state_machine_arn: str) -> str | None:
    """Why the state machine's role may not run a Distributed Map (it must be allowed
    `states:StartExecution` on the state machine itself: each child is an execution of it), or
    None. Only where IAM is enforced."""
    from emulator import iam

    if not iam.ENFORCEMENT.enabled:
        return None
    region = state_machine_arn.split(":")[3] if state_machine_arn.count(":") >= 5 else ""
    if iam.role_allows(role_arn, "states:StartExecution", state_machine_arn, region):
        return None
    account = role_arn.split(":")[4] if role_arn.count(":") >= 5 else ""
    name = role_arn.rsplit("/", 1)[-1]
    return (
        f"User: arn:aws:sts::{account}:assumed-role/{name}/states is not authorized to perform: "
        f"states:StartExecution on resource: {state_machine_arn}"
    )


def _tolerated_map_run(original: Any) -> Any:
    """A Distributed Map Run fails with `States.ExceedToleratedFailureThreshold` when more of
    its child workflow executions failed or timed out than it tolerates (by default none).
    moto ignored the threshold: the Map succeeded with `null` for each failed child. Before any
    child starts, the execution's role must be allowed to start them (`map_run_refusal`)."""

    def map_run(self: Any, env: Any, eval_input: Any) -> None:
        context = env.states.context_object.context_object_data
        refusal = map_run_refusal(
            str(context["Execution"].get("RoleArn") or ""), str(context["StateMachine"]["Id"])
        )
        if refusal is not None:
            raise _runtime_failure(env, refusal)
        record = eval_input.map_run_record
        before = _failed_items(record)
        original(self, env, eval_input)
        failed = _failed_items(record) - before
        total = len(env.stack[-1]) if env.stack and isinstance(env.stack[-1], list) else 0
        count = int(eval_input.tolerated_failure_count or 0)
        percentage = float(eval_input.tolerated_failure_percentage or 0.0)
        if exceeds_tolerance(failed, total, count, percentage):
            env.stack.pop()
            raise _exceeded_threshold(
                env,
                f"The specified tolerated failure threshold was exceeded: {failed} of {total} "
                "child workflow executions failed",
            )

    return map_run


def _eval_child(self: Any, env: Any, job: Any) -> None:
    """Replacement for DistributedItemProcessorWorker._eval_job: one Map child, counted as
    moto counts it, and a child that fails says why. moto kept the reason at DEBUG (or, for a
    child ending in a state's error, nowhere): the Map Run then failed with only a count. AWS
    keeps every failed child execution to describe; here its reason is logged as a warning."""
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
        FailureEventException,
    )
    from moto.stepfunctions.parser.asl.component.common.timeouts.timeout import EvalTimeoutError
    from moto.stepfunctions.parser.asl.eval.program_state import ProgramError, ProgramStopped
    from moto.stepfunctions.parser.asl.eval.states import ItemData, MapData

    record = self._map_run_record
    items, executions = record.item_counter, record.execution_counter
    items.total.count()
    items.running.count()
    executions.total.count()
    executions.running.count()
    output = None
    try:
        env.states.context_object.context_object_data["Map"] = MapData(
            Item=ItemData(Index=job.job_index, Value=job.job_input)
        )
        env.states.reset(job.job_input)
        env.stack.append(env.states.get_input())
        self._eval_input(env_frame=env)
        job.job_program.eval(env)
        ended = env.program_state()
        if isinstance(ended, ProgramError):
            executions.failed.count()
            items.failed.count()
            LOG.warning("Map child %s failed: %s", job.job_index, ended.error)
        elif isinstance(ended, ProgramStopped):
            executions.aborted.count()
            items.aborted.count()
        else:
            items.succeeded.count()
            items.results_written.count()
            executions.succeeded.count()
            executions.results_written.count()
            executions.running.offset(-1)
            output = env.states.get_input()
    except EvalTimeoutError:
        items.timed_out.count()
        LOG.warning("Map child %s timed out", job.job_index)
    except FailureEventException as failure:
        items.failed.count()
        details = failure.failure_event.event_details
        LOG.warning("Map child %s failed: %s", job.job_index, details)
    except Exception:  # the interpreter's own failure: the child fails, the Map counts it
        items.failed.count()
        LOG.warning("Map child %s failed in the interpreter", job.job_index, exc_info=True)
    finally:
        items.running.offset(-1)
        job.job_output = output


def _failed_items(record: Any) -> int:
    counter = record.item_counter
    return int(counter.failed.get()) + int(counter.timed_out.get())


def _exceeded_threshold(env: Any, cause: str) -> Exception:
    """The catchable `States.ExceedToleratedFailureThreshold` failure of a Map state."""
    from moto.stepfunctions.parser.api import HistoryEventType, TaskFailedEventDetails
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
        FailureEvent,
        FailureEventException,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import (
        StatesErrorName,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
        StatesErrorNameType,
    )
    from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails

    exceeded = StatesErrorNameType.StatesExceedToleratedFailureThreshold
    return FailureEventException(
        failure_event=FailureEvent(
            env=env,
            error_name=StatesErrorName(typ=exceeded),
            event_type=HistoryEventType.MapRunFailed,
            event_details=EventDetails(  # type: ignore[typeddict-item]
                taskFailedEventDetails=TaskFailedEventDetails(error=exceeded.to_name(), cause=cause)
            ),
        )
    )


# --- ResultWriter (Map) ----------------------------------------------------------------------


def result_files(
    prefix: str, map_run_arn: str, results: list[Any], *, execution_arn: str, label: str
) -> tuple[dict[str, bytes], dict[str, Any]]:
    """The objects a Distributed Map's `ResultWriter` (`arn:aws:states:::s3:putObject`) leaves
    under `Prefix` (AWS Step Functions Developer Guide, "ResultWriter (Map)"): the children's
    results grouped by status in `<prefix>/<map run id>/SUCCEEDED_0.json` (FAILED_0.json), each
    a JSON array of the child executions (Transformation NONE: `Output` as a JSON string), and
    `manifest.json` naming them with their sizes. Returns ({key: body}, the manifest)."""
    run_id = map_run_arn.rsplit(":", 1)[-1]
    base = f"{prefix.rstrip('/')}/{run_id}/" if prefix else f"{run_id}/"
    machine = execution_arn.split(":")[6] if execution_arn.count(":") >= 7 else "machine"
    region_account = ":".join(execution_arn.split(":")[3:5])
    by_status: dict[str, list[dict[str, Any]]] = {"SUCCEEDED": [], "FAILED": []}
    for index, output in enumerate(results):
        name = f"{run_id[:8]}-{index:06d}"
        child = {
            "ExecutionArn": f"arn:aws:states:{region_account}:execution:{machine}/{label}:{name}",
            "Name": name,
            "StateMachineArn": f"arn:aws:states:{region_account}:stateMachine:{machine}/{label}",
            "RedriveCount": 0,
        }
        if output is None:  # a failed (tolerated) child: moto keeps no output for it
            by_status["FAILED"].append({**child, "Status": "FAILED"})
            continue
        text = json.dumps(output, separators=(",", ":"))
        by_status["SUCCEEDED"].append(
            {**child, "Status": "SUCCEEDED", "Output": text, "OutputDetails": {"Included": True}}
        )
    objects: dict[str, bytes] = {}
    files: dict[str, list[dict[str, Any]]] = {"FAILED": [], "PENDING": [], "SUCCEEDED": []}
    for status, entries in by_status.items():
        if not entries:
            continue
        key = f"{base}{status}_0.json"
        body = json.dumps(entries, separators=(",", ":")).encode()
        objects[key] = body
        files[status].append({"Key": key, "Size": len(body)})
    manifest = {"DestinationBucket": "", "MapRunArn": map_run_arn, "ResultFiles": files}
    return objects, manifest


def _write_results(self: Any, env: Any, resource_runtime_part: Any, state_credentials: Any) -> None:
    """Replacement for moto's ResourceEvalS3._handle_put_object, which wrote a manifest naming
    no result file and dropped the results: the children's results are written as AWS writes
    them (`result_files`), and the Map's output is the Map Run ARN and the manifest's place."""
    from moto.stepfunctions.parser.asl.utils.boto_client import boto_client_for

    parameters = env.stack.pop()
    results = env.stack.pop()
    record = env.map_run_record_pool_manager.get_all()[-1]
    bucket, prefix = parameters["Bucket"], str(parameters.get("Prefix") or "")
    execution_arn = env.states.context_object.context_object_data["Execution"]["Id"]
    label = (
        record.map_state_machine_arn.rsplit("/", 1)[-1]
        if "/" in record.map_state_machine_arn
        else "Map"
    )
    objects, manifest = result_files(
        prefix, record.map_run_arn, list(results or []), execution_arn=execution_arn, label=label
    )
    manifest["DestinationBucket"] = bucket
    s3 = boto_client_for(
        service="s3", region=resource_runtime_part.region, state_credentials=state_credentials
    )
    for key, body in objects.items():
        s3.put_object(Bucket=bucket, Key=key, Body=body)
    run_id = record.map_run_arn.rsplit(":", 1)[-1]
    manifest_key = (
        f"{prefix.rstrip('/')}/{run_id}/manifest.json" if prefix else f"{run_id}/manifest.json"
    )
    s3.put_object(Bucket=bucket, Key=manifest_key, Body=json.dumps(manifest).encode())
    env.stack.append(
        {
            "MapRunArn": record.map_run_arn,
            "ResultWriterDetails": {"Bucket": bucket, "Key": manifest_key},
        }
    )


def install() -> None:
    global _installed, _VALUE_OPERATORS
    if _installed:
        return
    from moto.stepfunctions.parser.asl.component.common.error_name import error_equals_decl
    from moto.stepfunctions.parser.asl.component.common.path import result_path
    from moto.stepfunctions.parser.asl.component.common.timeouts import timeout
    from moto.stepfunctions.parser.asl.component.program import program
    from moto.stepfunctions.parser.asl.component.state import state as state_module
    from moto.stepfunctions.parser.asl.component.state.choice.comparison import (
        comparison_variable,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration import (
        distributed_iteration_component,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import state_task_lambda
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service,
    )
    from moto.stepfunctions.parser.asl.component.state.wait.wait_function import (
        timestamp,
        wait_function,
    )
    from moto.stepfunctions.parser.asl.eval.callback import callback
    from moto.stepfunctions.parser.asl.eval.environment import Environment
    from moto.stepfunctions.parser.asl.utils import json_path
    from moto.stepfunctions.parser.backend import execution
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend
    from moto.stepfunctions.responses import StepFunctionResponse

    for module in (json_path, result_path):
        module.parse = functools.lru_cache(maxsize=JSONPATH_CACHE_SIZE)(module.parse)  # type: ignore[attr-defined]

    wait_function.WaitFunction._wait_interval = _virtual_wait_interval  # type: ignore[method-assign]
    timestamp.Timestamp._get_wait_seconds = _virtual_timestamp_wait_seconds  # type: ignore[method-assign]
    # Callback (.waitForTaskToken) and heartbeat waits construct their Events in this module:
    # an approval request times out when the emulated clock says so. A Lambda task's own
    # TimeoutSeconds stays on real time: advancing the clock by days while a task runs must
    # not time it out.
    callback.Event = VirtualTimeoutEvent  # type: ignore[attr-defined]

    _VALUE_OPERATORS = _value_operators()
    comparison_variable.ComparisonVariable._eval_body = _strict_comparison_variable  # type: ignore[method-assign]
    result_path.ResultPath._eval_body = _strict_result_path(  # type: ignore[method-assign]
        result_path.ResultPath._eval_body
    )
    error_equals_decl.ErrorEqualsDecl._eval_body = _strict_error_equals(  # type: ignore[method-assign]
        error_equals_decl.ErrorEqualsDecl._eval_body
    )
    timeout.TimeoutSecondsPath._eval_seconds = _strict_timeout_seconds_path(  # type: ignore[method-assign]
        timeout.TimeoutSecondsPath._eval_seconds
    )
    for module in (state_module, state_task_lambda, state_task_service):
        module.is_within_size_quota = is_within_size_quota  # type: ignore[attr-defined]

    StepFunctionsParserBackend.send_task_success = _send_task_success  # type: ignore[method-assign]
    StepFunctionsParserBackend.send_task_failure = _send_task_failure  # type: ignore[method-assign]
    StepFunctionsParserBackend.send_task_heartbeat = _send_task_heartbeat  # type: ignore[method-assign]
    StepFunctionsParserBackend.start_execution = _start_execution_named(  # type: ignore[method-assign]
        StepFunctionsParserBackend.start_execution
    )
    Environment.set_error = _errors_do_not_undo_a_stop(Environment.set_error)  # type: ignore[method-assign]
    execution.Execution.start = _virtual_start(execution.Execution.start)  # type: ignore[method-assign]
    communication = execution.BaseExecutionWorkerCommunication
    communication._reflect_execution_status = _virtual_stop_date(  # type: ignore[method-assign]
        communication._reflect_execution_status
    )
    _original["program_eval"] = program.Program.eval
    program.Program.eval = _capped_program_eval(program.Program)  # type: ignore[method-assign]
    StepFunctionResponse.describe_execution = _describe_execution_response  # type: ignore[method-assign]
    StepFunctionResponse.send_task_failure = _send_task_failure_response  # type: ignore[method-assign]
    _original["stop_execution"] = StepFunctionResponse.stop_execution
    StepFunctionResponse.stop_execution = _stop_execution_response  # type: ignore[method-assign]
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    # moto warns that tolerated-failure declarations have no effect: here they have
    # (`_tolerated_map_run`), so the warning would mislead whoever reads a test's log.
    logging.getLogger("moto.stepfunctions.parser.asl.parse.preprocessor").addFilter(
        lambda record: "currently have no effect" not in record.getMessage()
    )
    AmazonStateLanguageParser.parse = staticmethod(_parse_cached_tree)  # type: ignore[method-assign]
    StepFunctionsParserBackend._validate_definition = staticmethod(_strict_validate_definition)  # type: ignore[method-assign]
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.result_writer.resource_eval import (
        resource_eval_s3,
    )

    resource_eval_s3.ResourceEvalS3._handle_put_object = _write_results  # type: ignore[method-assign,assignment]
    distributed = distributed_iteration_component.DistributedIterationComponent
    distributed._map_run = _tolerated_map_run(distributed._map_run)  # type: ignore[method-assign]
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.itemprocessor import (
        distributed_item_processor_worker as worker,
    )

    worker.DistributedItemProcessorWorker._eval_job = _eval_child  # type: ignore[method-assign]
    _installed = True
