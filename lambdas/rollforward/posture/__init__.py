"""The whole shared-responsibility table: every function version's row (Auto, FunctionUpdate,
Manual, container image), whether the customer's part is met, and since when not.

`table` decides (pure), `templates` reads CloudFormation templates that re-pin, `notices`
writes the owner notices for image functions, `metrics` the per-row gauges, `report` the
report's rows; `rollforward.adapters.posture` reads Lambda, ECR and CloudFormation into facts.
"""

from rollforward.posture.notices import PostureNotice, image_notice
from rollforward.posture.table import (
    RESPONSIBILITY,
    ROWS,
    Assessment,
    FunctionFacts,
    PinFacts,
    PosturePolicy,
    Row,
    RowCount,
    Status,
    assess,
    assess_fleet,
    newest_seen,
    row_of,
    summarize,
)
from rollforward.posture.templates import TemplatePin, parse_template, template_pins

__all__ = [
    "RESPONSIBILITY",
    "ROWS",
    "Assessment",
    "FunctionFacts",
    "PinFacts",
    "PostureNotice",
    "PosturePolicy",
    "Row",
    "RowCount",
    "Status",
    "TemplatePin",
    "assess",
    "assess_fleet",
    "image_notice",
    "newest_seen",
    "parse_template",
    "row_of",
    "summarize",
    "template_pins",
]
