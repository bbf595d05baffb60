"""What the embedded AWS knows beyond moto: one process-wide instance, because moto's own
backends are process-wide too.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from emulator.catalog import RuntimeCatalog
from emulator.clock import VirtualClock


@dataclass(frozen=True)
class ApiCall:
    """A successful control-plane call, as CloudTrail would record it."""

    event_source: str  # "lambda.amazonaws.com"
    event_name: str  # "PutRuntimeManagementConfig"
    account_id: str
    region: str
    request_parameters: dict[str, Any]
    response_elements: dict[str, Any] | None
    user_identity: dict[str, Any]
    # Calls an AWS service makes on a caller's behalf (CloudFormation) carry the service here.
    source_ip_address: str | None = None
    user_agent: str | None = None


class BackgroundWork(Protocol):
    """Work AWS does after an API call has returned (EventBridge deliveries)."""

    def drain(self, timeout: float) -> bool:
        """Wait until everything submitted so far, and what it caused, is done; False if not
        done within `timeout` real seconds."""
        ...

    def discard_pending(self) -> None:
        """Forget work not started yet (the emulator was reset)."""
        ...


@dataclass
class ThrottleSettings:
    enabled: bool = False
    shared_rate: float = 15.0  # requests per second over the shared control-plane bucket
    get_function_rate: float = 100.0


@dataclass
class EmulatorState:
    clock: VirtualClock = field(default_factory=VirtualClock)
    catalog: RuntimeCatalog = field(default_factory=RuntimeCatalog)
    throttle: ThrottleSettings = field(default_factory=ThrottleSettings)
    # Requests are validated against botocore's model (emulator.validation); off = moto's leniency.
    validation: bool = True
    rng: random.Random = field(default_factory=lambda: random.Random(20261126))
    # Called after each successful mutating call (CloudTrail → EventBridge delivery listens).
    api_call_listeners: list[Callable[[ApiCall], None]] = field(default_factory=list)
    # (function name, runtime version ARN) -> error rate: a release that breaks one function
    # only (its code hits a change in that runtime version), not the whole runtime.
    function_error_rates: dict[tuple[str, str], float] = field(default_factory=dict)
    # A function update stays InProgress this many real seconds (emulator.lambda_api.updates),
    # and each function's update in progress: (account, region, name) -> monotonic end.
    update_seconds: float = 0.2
    updates_complete_at: dict[tuple[str, str, str], float] = field(default_factory=dict)
    # Log level of rollforward's own handlers run in process (the demo keeps them quiet).
    handler_log_level: str = "INFO"
    # Set in server mode so in-process handlers and the interpreter reach the server.
    endpoint_url: str | None = None
    lock: threading.RLock = field(default_factory=threading.RLock)
    # Asynchronous work (registered by the parts that do it): `drain` waits for all of it.
    background: list[BackgroundWork] = field(default_factory=list)

    def publish_api_call(self, call: ApiCall) -> None:
        for listener in list(self.api_call_listeners):
            listener(call)

    def drain(self, timeout: float = 60.0) -> None:
        """Wait, without sleeping, until every asynchronous delivery submitted so far (and any
        it caused) has finished: what tests and the demo do where AWS would have them poll.
        Raises TimeoutError when it takes longer than `timeout` real seconds."""
        for work in list(self.background):
            if not work.drain(timeout):
                raise TimeoutError(f"asynchronous deliveries still running after {timeout}s")


STATE = EmulatorState()


def reset() -> EmulatorState:
    """Fresh catalog, clock, throttle settings and RNG (listeners stay installed)."""
    STATE.clock = VirtualClock()
    STATE.catalog = RuntimeCatalog()
    STATE.throttle = ThrottleSettings()
    STATE.validation = True
    STATE.rng = random.Random(20261126)
    STATE.function_error_rates = {}
    STATE.update_seconds = EmulatorState.update_seconds
    STATE.updates_complete_at = {}
    for work in list(STATE.background):
        work.discard_pending()
    return STATE
