"""The demo is the first thing a new user runs: it must play the whole story and exit 0."""

from __future__ import annotations

import json

from emulator import demo, posture_fleet

ROWS = {"auto", "function_update", "manual", "container_image"}
STATUSES = {"met", "due", "unmet", "unknown"}


def test_the_demo_plays_the_whole_story(capsys, tmp_path):
    report = tmp_path / "posture.json"
    assert demo.main(["--functions", "6", "--report-json", str(report)]) == 0
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
    assert "assumed-role/billing-deployer/AWSCloudFormation" in out

    # ... and `rollforward report --output json` over the demo fleet lists every function, each
    # with its row and status (the demo also checks it against ListFunctions).
    assert "`rollforward report --output json`:" in posture
    document = json.loads(report.read_text())
    latest = {f["function"]: f for f in document["functions"] if f["qualifier"] == "$LATEST"}
    fleet = {demo.VICTIM, *(f"svc-{i:02d}" for i in range(1, 6))}
    fleet |= {posture_fleet.FUNCTION_UPDATE, posture_fleet.IMAGE, posture_fleet.STACK_FUNCTION}
    assert fleet <= set(latest), sorted(fleet - set(latest))
    for entry in document["functions"]:
        assert entry["row"] in ROWS and entry["status"] in STATUSES, entry
    rows = {name: (latest[name]["row"], latest[name]["status"]) for name in fleet}
    assert rows[demo.VICTIM] == ("auto", "met")
    assert rows[posture_fleet.FUNCTION_UPDATE] == ("function_update", "unmet")
    assert rows[posture_fleet.IMAGE] == ("container_image", "unmet")
    assert rows[posture_fleet.STACK_FUNCTION] == ("manual", "unmet")
    assert "owner_notices_sent" not in document  # the report only reads
    # The daily Posture run before it opened the FunctionUpdate function's item and told owners.
    daily = out.split("The daily posture run")[1].split("The posture report")[0]
    assert "1 FunctionUpdate function left behind gets a ledger item" in daily
    assert "1 old image's owner told" in daily
    assert "notice to owner: [rollforward] reports: container image is 120 days old" in daily
    # The Organization chapter: the member's pin handled by the hub, acted on in the member.
    members = out.split("Every account of an Organization")[1]
    for beat in (
        "the member stack in 222233334444/us-east-1",
        "in the hub's own account (roles only",
        "ledger item for orders in 222233334444/us-east-1",
        "pin resolved in 222233334444/us-east-1",
        "$LATEST Auto; changed there only by rollforward-canary-us-east-1",
    ):
        assert beat in members, beat
