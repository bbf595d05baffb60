"""Step Functions on the virtual clock.

moto's ASL interpreter waits in real time: `Wait` states sleep, task timeouts and
`.waitForTaskToken` timeouts wait on `threading.Event`. Here every one of those waits runs on
`STATE.clock`, so advancing the clock by 14 days ends a 14-day Wait at once, and an approval
task times out when the emulated time says so.
"""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

from emulator.state import STATE

_installed = False


class VirtualTimeoutEvent(threading.Event):
    """An Event whose `wait(timeout)` measures the timeout on the virtual clock."""

    def wait(self, timeout: float | None = None) -> bool:
        if timeout is None:
            return super().wait()
        deadline = STATE.clock.now() + timedelta(seconds=timeout)
        while not self.is_set():
            remaining = (deadline - STATE.clock.now()).total_seconds()
            if remaining <= 0:
                return False
            super().wait(min(remaining, 0.05))
        return True


def _virtual_wait_interval(self: object, env: object, wait_seconds: int) -> None:
    """Replacement for WaitFunction._wait_interval: sleep on the virtual clock."""
    deadline = STATE.clock.now() + timedelta(seconds=max(0, wait_seconds))
    while env.is_running():  # type: ignore[attr-defined]
        remaining = (deadline - STATE.clock.now()).total_seconds()
        if remaining <= 0:
            return
        # A stopped execution must leave its Wait promptly: check again every 50 ms.
        STATE.clock.sleep_until(min(deadline, STATE.clock.now() + timedelta(seconds=0.05)))


def _virtual_timestamp_wait_seconds(self: object, env: object) -> int:
    """Replacement for Timestamp._get_wait_seconds: seconds until the timestamp, virtual now."""
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
        FailureEventException,
    )

    self.string.eval(env=env)  # type: ignore[attr-defined]
    timestamp_str: str = env.stack.pop()  # type: ignore[attr-defined]
    timestamp = self._from_timestamp_string(timestamp=timestamp_str)  # type: ignore[attr-defined]
    if timestamp is None:
        raise FailureEventException(self._create_failure_event(env, timestamp_str))  # type: ignore[attr-defined]
    now = STATE.clock.now().replace(tzinfo=None)  # the interpreter parses `...Z` as naive UTC
    return int((timestamp - now).total_seconds())


def _stop_execution_keeping_the_cause(self: Any) -> Any:
    """moto drops StopExecution's `error` and `cause`; AWS keeps and describes them."""
    arn = self._get_param("executionArn")
    error, cause = self._get_param("error"), self._get_param("cause")
    state_machine = self.stepfunction_backend._get_state_machine_for_execution(arn)
    execution = next((x for x in state_machine.executions if x.execution_arn == arn), None)
    response = _original_stop_execution(self)
    if execution is not None:
        execution.error, execution.cause = error or "", cause or ""
    return response


_original_stop_execution: Any = None


def install() -> None:
    global _installed, _original_stop_execution
    if _installed:
        return
    from moto.stepfunctions.parser.asl.component.state.wait.wait_function import (
        timestamp,
        wait_function,
    )
    from moto.stepfunctions.parser.asl.eval.callback import callback

    wait_function.WaitFunction._wait_interval = _virtual_wait_interval  # type: ignore[method-assign]
    timestamp.Timestamp._get_wait_seconds = _virtual_timestamp_wait_seconds  # type: ignore[method-assign]
    # Callback (.waitForTaskToken) and heartbeat waits construct their Events in this module:
    # an approval request times out when the emulated clock says so. A Lambda task's own
    # TimeoutSeconds stays on real time: advancing the clock by days while a task runs must
    # not time it out.
    callback.Event = VirtualTimeoutEvent  # type: ignore[attr-defined]
    from moto.stepfunctions.responses import StepFunctionResponse

    _original_stop_execution = StepFunctionResponse.stop_execution
    StepFunctionResponse.stop_execution = _stop_execution_keeping_the_cause  # type: ignore[method-assign]
    _installed = True
