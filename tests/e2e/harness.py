"""The e2e tests drive the same scenario helpers as the demo."""

from emulator.scenario import (
    ACCOUNT,
    REGION,
    Lifecycle,
    Principal,
    approve_pending,
    code_zip,
    wait_for,
    wait_until_updated,
)

__all__ = [
    "ACCOUNT",
    "REGION",
    "Lifecycle",
    "Principal",
    "approve_pending",
    "code_zip",
    "wait_for",
    "wait_until_updated",
]
