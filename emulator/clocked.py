"""moto services that judge timestamps against "now": give them the emulated clock.

CloudWatch Logs refuses events more than 2 hours ahead of now; after the clock is advanced by
days, rollforward's audit records carry emulated timestamps and must still be accepted.
"""

from __future__ import annotations

from datetime import datetime

from emulator.state import STATE

_installed = False


def emulated_utcnow() -> datetime:
    """Naive UTC, the form moto's `utcnow` returns."""
    return STATE.clock.now().replace(tzinfo=None)


def install() -> None:
    global _installed
    if _installed:
        return
    from moto.logs import models as logs_models

    logs_models.utcnow = emulated_utcnow  # type: ignore[attr-defined]
    _installed = True
