"""The contract tier: the synthesized state machine reads only what the contract declares.

`asl_contract.check` walks every state and transition of the definition synthesized from
infra/ (once per session) and checks each path a Choice, Wait or Task reads against the JSON
schema of what the state before it outputs (rollforward.contract). The tier bites: on a copy of
the contract with one field renamed, or one enum value renamed, it reports the reads that broke.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import rollforward.contract as contract
import rollforward.scan.cycle as scan_contract

from emulator.stack import synthesize
from tests.workflow.asl_contract import check, definition_and_handlers


@pytest.fixture(scope="module")
def machine() -> tuple[dict[str, Any], dict[str, str]]:
    return definition_and_handlers(synthesize())


def _renamed(old: str, new: str) -> Iterator[ModuleType]:
    """A copy of rollforward.contract whose source has `old` replaced by `new`."""
    source = Path(contract.__file__).read_text()
    assert source.count(old) >= 1, f"{old!r} is not in the contract source"
    name = f"contract_copy_{uuid.uuid4().hex[:8]}"
    module = ModuleType(name)
    module.__file__ = contract.__file__
    sys.modules[name] = module  # pydantic resolves the models' annotations through it
    try:
        exec(compile(source.replace(old, new), contract.__file__, "exec"), module.__dict__)
        yield module
    finally:
        del sys.modules[name]


@pytest.fixture
def renamed_field() -> Iterator[ModuleType]:
    yield from _renamed("    requests_approval: bool\n", "    asks_for_approval: bool\n")


@pytest.fixture
def renamed_value() -> Iterator[ModuleType]:
    yield from _renamed('FORGED = "forged"', 'FORGED = "forgery"')


def test_the_machine_reads_only_what_the_contract_declares(machine):
    definition, handlers = machine
    assert check(definition, handlers, contract) == []


def test_every_lambda_task_has_a_reply_model(machine):
    definition, handlers = machine
    modules = {
        handlers[state["Parameters"]["FunctionName"]]
        for state in definition["States"].values()
        if state["Type"] == "Task"
    }
    assert modules == set(contract.TASK_OUTPUTS)


def test_a_renamed_field_breaks_the_tier(machine, renamed_field):
    definition, handlers = machine
    violations = check(definition, handlers, renamed_field)
    assert violations, "a field the NextStep Choice reads was renamed, yet the tier passed"
    assert any(v.startswith("NextStep reads $.next.requests_approval") for v in violations), (
        violations
    )


def test_a_renamed_enum_value_breaks_the_tier(machine, renamed_value):
    definition, handlers = machine
    violations = check(definition, handlers, renamed_value)
    assert any("Decision compares $.decision.decision with 'forged'" in v for v in violations), (
        violations
    )


def test_a_wait_on_an_undeclared_path_breaks_the_tier(machine):
    definition, handlers = machine
    states = dict(definition["States"])
    states["Bake"] = {**states["Bake"], "TimestampPath": "$.canary.bake_deadline"}
    violations = check({**definition, "States": states}, handlers, contract)
    assert violations
    assert all(v.startswith("Bake reads $.canary.bake_deadline") for v in violations), violations


# --------------------------------------------------------------------------- the scan's machine
@pytest.fixture(scope="module")
def scan_machine() -> tuple[dict[str, Any], dict[str, str]]:
    return definition_and_handlers(synthesize(), machine="ScanCycle")


def test_the_scan_machine_reads_only_what_its_contract_declares(scan_machine):
    definition, handlers = scan_machine
    assert definition["States"]["Targets"]["ItemProcessor"]["ProcessorConfig"] == {
        "Mode": "DISTRIBUTED",
        "ExecutionType": "STANDARD",
    }
    # A child failing where no catch reaches (States.Runtime) must not cost the cycle its
    # Report: the Map tolerates it, and Report names the target (no outcome recorded).
    assert definition["States"]["Targets"]["ToleratedFailurePercentage"] == 100
    assert check(definition, handlers, scan_contract) == []


def test_a_scan_child_reading_an_undeclared_path_breaks_the_tier(scan_machine):
    definition, handlers = scan_machine
    targets = definition["States"]["Targets"]
    child = dict(targets["ItemProcessor"]["States"])
    child["More?"] = {
        **child["More?"],
        "Choices": [{**child["More?"]["Choices"][0], "Variable": "$.completed"}],
    }
    processor = {**targets["ItemProcessor"], "States": child}
    states = {**definition["States"], "Targets": {**targets, "ItemProcessor": processor}}
    violations = check({**definition, "States": states}, handlers, scan_contract)
    assert any(v.startswith("Targets child: More? reads $.completed") for v in violations), (
        violations
    )
