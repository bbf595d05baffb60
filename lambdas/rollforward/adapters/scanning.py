"""The scan wired on the AWS adapters: `wire` builds a `Scanner` over boto3 clients, and
`WiredScan.paced()` runs it within its share of the shared control-plane bucket. Used by the
scan handler, and by the benchmark and the e2e tests exactly as the handler uses it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rollforward.adapters.canary_repair import InvokeCanaryRollback
from rollforward.adapters.executions import StepFunctionsExecutions
from rollforward.adapters.lambda_control import AwsLambdaControl
from rollforward.ratelimit import CallCounter, TokenBucket, paced, pacing
from rollforward.scan.scanner import Scanner

if TYPE_CHECKING:
    from rollforward.escalation.tracking import Tracker
    from rollforward.handlers.wiring import FunctionSettings

# The canary function whose rollback restores canaries whose execution died (set by the stack).
CANARY_FUNCTION_VARIABLE = "CANARY_FUNCTION"
# The scan's share of GetFunction's own 100 req/s bucket (screening reads every function).
GETFUNCTION_RATE_PER_SECOND = 25.0


@dataclass
class WiredScan:
    """A scanner and the clients it acts through; `paced()` wraps a run in the rate budget."""

    scanner: Scanner
    lambda_clients: tuple[Any, ...]
    sfn_clients: tuple[Any, ...]
    lambda_calls: CallCounter
    sfn_calls: CallCounter
    getfunction_limiter: TokenBucket
    getfunction_calls: CallCounter

    @contextmanager
    def paced(self) -> Iterator[Scanner]:
        with ExitStack() as stack:
            stack.enter_context(
                paced(
                    self.scanner.limiter,
                    self.lambda_clients,
                    self.lambda_calls,
                    other_clients=self.sfn_clients,
                    other_calls=self.sfn_calls,
                )
            )
            # GetFunction draws on its own bucket: paced apart, within a share of it.
            stack.enter_context(
                pacing(
                    self.lambda_clients[0],
                    self.getfunction_limiter,
                    self.getfunction_calls,
                    operations=("GetFunction",),
                    exempt=(),
                )
            )
            yield self.scanner


def wire(
    settings: FunctionSettings,
    limiter: TokenBucket,
    *,
    lambda_client: Any,
    sfn_client: Any,
    tracker: Tracker,
    canary_function: str | None,
) -> WiredScan:
    """The scanner on AWS adapters over these clients. The tracker's Lambda client is paced
    too: its calls (ListTags, the live re-reads) draw on the same bucket. Dead canaries are
    restored by invoking `canary_function`'s rollback (None: reported as stalled)."""
    lambda_calls, sfn_calls, getfunction_calls = CallCounter(), CallCounter(), CallCounter()
    scanner = Scanner(
        lambda_control=AwsLambdaControl(lambda_client),
        tracker=tracker,
        ledger=tracker.ledger,
        executions=(
            StepFunctionsExecutions(sfn_client, settings.state_machine_arn)
            if settings.state_machine_arn
            else None
        ),
        limiter=limiter,
        canary_repair=(
            InvokeCanaryRollback(lambda_client, canary_function, tracker.ledger)
            if canary_function
            else None
        ),
        lambda_calls=lambda_calls,
        sfn_calls=sfn_calls,
        getfunction_calls=getfunction_calls,
        region=getattr(lambda_client.meta, "region_name", None),
    )
    return WiredScan(
        scanner,
        lambda_clients=(lambda_client, tracker.lambda_client),
        sfn_clients=(sfn_client, tracker.sfn),
        lambda_calls=lambda_calls,
        sfn_calls=sfn_calls,
        getfunction_limiter=TokenBucket(GETFUNCTION_RATE_PER_SECOND),
        getfunction_calls=getfunction_calls,
    )


__all__ = ["CANARY_FUNCTION_VARIABLE", "WiredScan", "wire"]
