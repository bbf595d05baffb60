"""The suite's Hypothesis profile (tests/conftest.py) is the default."""

from hypothesis import settings


def test_examples_have_no_deadline_by_default() -> None:
    # A deadline turns a loaded machine into DeadlineExceeded failures of properties that hold.
    assert settings.default.deadline is None
