"""Detection: reading what CloudTrail says about a runtime-management change, and deciding what it means."""
