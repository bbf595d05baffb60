"""The demo is the first thing a new user runs: it must play the whole story and exit 0."""

from __future__ import annotations

from emulator import demo


def test_the_demo_plays_the_whole_story(capsys):
    assert demo.main(["--functions", "6"]) == 0
    out = capsys.readouterr().out
    for beat in (
        "detected from CloudTrail",
        "notice to owner",
        "notice to team",
        "notice to oncall",
        "separation of duties",
        "step 1: FAIL",
        "restored exactly: alias 'live' 100% on v2, $LATEST Manual",
        "pin resolved: alias 'live' 100% on v4, $LATEST Auto",
    ):
        assert beat in out, beat
    timeline = out.split("The audit trail")[1]
    for event in ("detected", "approved", "rolled_back", "promoted", "resolved"):
        assert f" {event} " in timeline, event
    assert '{"level"' not in out  # handler logs stay out of the story
    # It ends with the posture report: one function in each row, the image notice, the stack.
    posture = out.split("The posture report")[1]
    for beat in (
        "Function update  1         1",
        "Container image  1         1",
        "Templates that re-pin:",
    ):
        assert beat in posture, beat
    assert "container image is 120 days old" in out
    assert "assumed-role/billing-deployer/AWSCloudFormation" in out
