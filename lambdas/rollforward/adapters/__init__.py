"""The AWS side of the ports (`rollforward.ports`): boto3 clients in, domain values out.

Each adapter wraps clients it is given (`handlers/wiring.py` builds them) and translates errors
in one place (`aws_errors`): throttling and faults become `rollforward.transient.Transient`.
"""
