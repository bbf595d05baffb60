"""Settings a deployed function needs: validated when read, and present on every function.

A function whose `AUDIT_LOG_GROUP` was unset used to drop its audit records silently; now the
handler fails loudly, naming the variable, and the synthesized template gives every function
each variable `FunctionSettings.from_env` requires.
"""

from __future__ import annotations

from typing import Any

import pytest
from rollforward.adapters.cloudwatch_audit import CloudWatchAuditTrail as AuditTrail
from rollforward.handlers.wiring import REQUIRED_VARIABLES, FunctionSettings, MissingSetting

COMPLETE = {
    "LEDGER_TABLE": "ledger",
    "APPROVALS_TABLE": "approvals",
    "AUDIT_LOG_GROUP": "audit",
}


@pytest.mark.parametrize("name", REQUIRED_VARIABLES)
@pytest.mark.parametrize("value", [None, ""])
def test_a_missing_setting_fails_loudly_naming_the_variable(name: str, value: str | None) -> None:
    env = dict(COMPLETE)
    if value is None:
        del env[name]
    else:
        env[name] = value
    with pytest.raises(MissingSetting, match=name):
        FunctionSettings.from_env(env)


def test_complete_settings_are_read() -> None:
    settings = FunctionSettings.from_env(COMPLETE)
    assert settings.audit_log_group == "audit"
    assert settings.ledger_table == "ledger"


def test_an_audit_trail_without_a_log_group_is_refused() -> None:
    with pytest.raises(ValueError, match="AUDIT_LOG_GROUP"):
        AuditTrail(logs=object(), log_group="")


def test_every_deployed_function_has_the_variables_its_settings_require(
    template_json: dict[str, Any],
) -> None:
    functions = {
        logical: resource["Properties"]
        for logical, resource in template_json["Resources"].items()
        if resource["Type"] == "AWS::Lambda::Function"
    }
    ours = {
        logical: props
        for logical, props in functions.items()
        if str(props.get("Handler", "")).startswith("rollforward.handlers.")
    }
    assert ours, "no rollforward handler functions in the template"
    for logical, props in ours.items():
        variables = props.get("Environment", {}).get("Variables", {})
        missing = [name for name in REQUIRED_VARIABLES if not variables.get(name)]
        assert not missing, f"{logical} lacks {missing}"
