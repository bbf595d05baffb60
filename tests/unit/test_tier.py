"""The unit tier's own guard (tests/unit/conftest.py) recognises what it must refuse."""

from __future__ import annotations

from tests.unit.conftest import UNIT, aws_libraries_in, only_unit


def test_the_guard_names_each_aws_library_imported() -> None:
    assert aws_libraries_in(["json", "botocore.exceptions", "moto.core", "boto3"]) == [
        "boto3",
        "botocore",
        "moto",
    ]
    assert aws_libraries_in(["emulator.inprocess", "rollforward.policy"]) == ["emulator"]


def test_the_guard_passes_pure_modules_and_lookalikes() -> None:
    assert aws_libraries_in(["boto", "motor", "pydantic", "rollforward.policy"]) == []


def test_the_session_is_the_unit_tier_only_when_every_item_is_in_it() -> None:
    unit = UNIT / "test_tier.py"
    assert only_unit([unit, UNIT / "sub" / "test_x.py"])
    assert not only_unit([unit, UNIT.parent / "workflow" / "test_choice_guards.py"])
    assert not only_unit([])
