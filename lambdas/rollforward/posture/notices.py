"""Owner notices for the rows rollforward cannot fix by itself.

An image function on an old image: rollforward cannot rebuild an image, so the notice names the
image (the URI the function was deployed from and the digest it runs), its age and where that
age comes from, and exactly what to do — rebuild from the latest base image, push, redeploy.
No automated change is made or offered.

Pure: `image_notice` builds the text from an `Assessment`; the caller publishes it (SNS, with
the `audience`/`kind` message attributes the ladder's notices use) and keeps it idempotent with
`dedup_key` (one notice per function version and digest).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rollforward.posture.table import Assessment, Row, Status

SUBJECT_MAX = 99  # SNS: "less than 100 characters"
IMAGE_KIND = "image_outdated"


@dataclass(frozen=True, slots=True)
class PostureNotice:
    kind: str
    audience: str
    owner: str
    subject: str
    text: str
    dedup_key: str

    def forwarder_payload(self) -> dict[str, Any]:
        """What Lambda/SQS forwarders receive (the same keys the ladder's notices carry)."""
        return {
            "kind": self.kind,
            "audience": self.audience,
            "owner": self.owner,
            "subject": self.subject[:SUBJECT_MAX],
            "text": self.text,
            "dedup_key": self.dedup_key,
        }

    def sns_publish_kwargs(self, topic_arn: str) -> dict[str, Any]:
        """One body per protocol, as `rollforward.audit.notices.Notice` publishes."""
        forwarded = json.dumps(self.forwarder_payload())
        message = {"default": self.text, "email": self.text, "lambda": forwarded, "sqs": forwarded}
        return {
            "TopicArn": topic_arn,
            "Subject": self.subject[:SUBJECT_MAX],
            "Message": json.dumps(message),
            "MessageStructure": "json",
            "MessageAttributes": {
                "audience": {"DataType": "String", "StringValue": self.audience},
                "kind": {"DataType": "String", "StringValue": self.kind},
                "owner": {"DataType": "String", "StringValue": self.owner or "unknown"},
            },
        }


def image_notice(assessment: Assessment, now: datetime) -> PostureNotice | None:
    """The owner notice for an image function whose image is past the policy's age; None for
    every other assessment."""
    if assessment.row is not Row.CONTAINER_IMAGE or assessment.status is not Status.UNMET:
        return None
    evidence = assessment.evidence
    image = evidence.get("image", "")
    built = evidence.get("built", "")
    age_days = (now - datetime.fromisoformat(built)).days if built else None
    age = f"{age_days} days" if age_days is not None else "of unknown age"
    name = assessment.function_name
    where = assessment.function_arn + (
        f":{assessment.qualifier}" if assessment.qualifier != "$LATEST" else ""
    )
    lines = [
        f"The container image of Lambda function {name} is {age} old.",
        "",
        f"  Function:  {where}",
        f"  Image:     {image}",
        f"  Built:     {built} ({evidence.get('image_age_source', '')})",
        f"  Policy:    {assessment.reason}",
    ]
    if assessment.stack_name:
        lines.append(f"  Stack:     {assessment.stack_name}")
    lines += [
        "",
        "Lambda does not patch the runtime inside a container image: that is yours to do.",
        "What to do:",
        "  1. Rebuild the image from the latest version of its base image",
        "     (e.g. `docker build --pull ...`, which fetches the newest base image).",
        "  2. Push it to its Amazon ECR repository.",
        f"  3. Redeploy {name} with the new image (aws lambda update-function-code "
        f"--function-name {name} --image-uri <new image URI>, or your pipeline"
        + (f" / stack {assessment.stack_name}" if assessment.stack_name else "")
        + ").",
        "",
        "rollforward makes no change to this function; this notice repeats for each new "
        "digest that ages past the policy.",
    ]
    digest = image.rsplit("@", 1)[-1] if "@" in image else image
    return PostureNotice(
        kind=IMAGE_KIND,
        audience="owner",
        owner=assessment.owner,
        subject=f"[rollforward] {name}: container image is {age} old, rebuild and redeploy",
        text="\n".join(lines),
        dedup_key=f"{assessment.function_arn}#{assessment.qualifier}#image#{digest}",
    )
