"""rollforward: roll Lambda functions pinned to a Manual runtime version forward to Auto, safely."""
