"""Escalation: the tracking of each pin, its ladder of notices, and where it stands."""
