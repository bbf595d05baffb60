"""Patch moto, once per process, with everything rollforward's embedded AWS adds.

Each part lives in its own module with an idempotent `install()`; this is the single list.
"""

from __future__ import annotations

import importlib
import threading

_PARTS = (
    "emulator.botocore_loader",  # one botocore loader (and model cache) for every session
    "emulator.validation",  # every request checked against botocore's model (first: see install)
    "emulator.mutations",  # successful state-changing calls counted (a cheap state fingerprint)
    "emulator.s3",  # S3 bucket names and key lengths (rest-xml: outside the model check)
    "emulator.iam",  # SigV4 + IAM: wraps validation, so authentication comes first
    "emulator.organizations",  # SCPs enabled/kept as AWS does; reset forgets memberships
    "emulator.lambda_api",  # runtime management API, RuntimeVersionConfig, two-phase rollout
    "emulator.lambda_listing",  # ListFunctions(FunctionVersion=ALL) lists every version
    "emulator.logging_config",  # LoggingConfig stored and answered (traffic honours it)
    "emulator.throttling",  # the shared 15 req/s control-plane bucket
    "emulator.dynamodb",  # each DynamoDB request applied whole (moto applies SETs one by one)
    "emulator.dynamodb_wire",  # attribute values serialized by name (moto: 5 alias lookups each)
    "emulator.aliases",  # UpdateAlias honours RevisionId (412 on a stale one)
    "emulator.stepfunctions",  # virtual clock in Wait / task timeouts
    "emulator.clocked",  # CloudWatch Logs accepts events stamped by the emulated clock
    "emulator.functions",  # Lambda invocations: project handlers in process, simulated fleet
    "emulator.traffic",  # alias weights, simulated fleet invocations, metrics, INIT_START
    "emulator.cloudwatch",  # composite alarms, DescribeAlarms AlarmTypes
    "emulator.function_dates",  # LastModified on the emulated clock, moved by every update
    "emulator.kms",  # a KMS key's key pair made on first use (Sign/Verify/GetPublicKey)
    "emulator.ecr",  # ECR push dates (emulated clock); image functions resolve ECR digests
    "emulator.cloudformation",  # stacks create/update functions; CFN's identity in CloudTrail
    "emulator.cloudtrail",  # CloudTrail-shaped events delivered to EventBridge targets
    "emulator.trails",  # a new trail records every management event, as on AWS
    "emulator.routes",  # execute-api (decision API) and the /_rollforward/ control surface
    "emulator.control",  # the control operations themselves
)
_done = False
_lock = threading.Lock()


def install_all() -> None:
    global _done
    with _lock:
        if _done:
            return
        for name in _PARTS:
            try:
                module = importlib.import_module(name)
            except ModuleNotFoundError as error:
                if error.name != name:
                    raise
                continue  # part not built yet
            module.install()
        _done = True
