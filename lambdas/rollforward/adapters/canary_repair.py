"""`CanaryRepair` (the scan's port) on the deployed canary function: the scan asks the canary's
own `rollback` action to restore a canary whose execution died, by invoking the canary
function synchronously. The canary function stays the only one that changes the fleet (its
role holds the alias and runtime-setting rights; the scan's may only invoke it), and there is
one rollback, never a copy."""

from __future__ import annotations

import json
from typing import Any

from rollforward.adapters.aws_errors import call
from rollforward.clock import utc_now
from rollforward.ledger import Pin, Stage
from rollforward.ports import Ledger
from rollforward.transient import Transient

# The error the Rollback is told about ($.failure): the canary's execution ended mid-canary.
EXECUTION_DIED = "rollforward.CanaryExecutionDied"


class InvokeCanaryRollback:
    def __init__(self, lambda_client: Any, canary_function: str, ledger: Ledger) -> None:
        self.client = lambda_client
        self.canary_function = canary_function
        self.ledger = ledger

    def restore(self, pin: Pin, reason: str) -> Pin:
        if pin.stage is not Stage.CANARY:
            # The canary acts on open pins only, and this one is its: a `failed` pin with a
            # canary in flight goes back to CANARY (same generation) for the rollback to take.
            pin = self.ledger.update(pin, utc_now(), stage=Stage.CANARY)
        state = {
            "pin_id": pin.key.id,
            "generation": pin.generation,
            "failure": {"Error": EXECUTION_DIED, "Cause": reason},
        }
        response = call(
            self.client.invoke,
            FunctionName=self.canary_function,
            InvocationType="RequestResponse",
            Payload=json.dumps({"action": "rollback", "state": state, "execution": ""}).encode(),
        )
        raw = response["Payload"].read()
        if response.get("FunctionError"):
            detail = json.loads(raw) if raw else {}
            kind = str(detail.get("errorType", response["FunctionError"]))
            message = f"the canary's rollback failed: {kind}: {detail.get('errorMessage', '')}"
            if kind.endswith("Transient"):
                raise Transient(message)
            raise RuntimeError(message)
        return self.ledger.get(pin.key) or pin


__all__ = ["EXECUTION_DIED", "InvokeCanaryRollback"]
