"""The audit trail and the notices people act on."""
