"""What the embedded AWS knows beyond moto: one process-wide instance, because moto's own
backends are process-wide too.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

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
    rng: random.Random = field(default_factory=lambda: random.Random(20261126))
    # Called after each successful mutating call (CloudTrail → EventBridge delivery listens).
    api_call_listeners: list[Callable[[ApiCall], None]] = field(default_factory=list)
    # (function name, runtime version ARN) -> error rate: a release that breaks one function
    # only (its code hits a change in that runtime version), not the whole runtime.
    function_error_rates: dict[tuple[str, str], float] = field(default_factory=dict)
    # Log level of rollforward's own handlers run in process (the demo keeps them quiet).
    handler_log_level: str = "INFO"
    # Set in server mode so in-process handlers and the interpreter reach the server.
    endpoint_url: str | None = None
    lock: threading.RLock = field(default_factory=threading.RLock)

    def publish_api_call(self, call: ApiCall) -> None:
        for listener in list(self.api_call_listeners):
            listener(call)


STATE = EmulatorState()


def reset() -> EmulatorState:
    """Fresh catalog, clock, throttle settings and RNG (listeners stay installed)."""
    STATE.clock = VirtualClock()
    STATE.catalog = RuntimeCatalog()
    STATE.throttle = ThrottleSettings()
    STATE.rng = random.Random(20261126)
    STATE.function_error_rates = {}
    return STATE
