"""The CDK app (`cdk.json` runs this): `cdk synth`, `cdk deploy`."""

from __future__ import annotations

import os

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from infra.settings import Settings
from infra.stack import RollforwardStack

STACK_NAME = "Rollforward"


def build_app(
    outdir: str | None = None,
    context: dict[str, object] | None = None,
    stack_names: tuple[str, ...] = (STACK_NAME,),
) -> cdk.App:
    """The app, with cdk-nag's AwsSolutions pack as a validation plugin: any finding that is not
    acknowledged (with a reason, where the construct is made) fails `synth()`, and the assembly's
    `validation-report.json` lists every acknowledged one with its reason.

    `stack_names`: one stack per name, same settings (tests synthesize two in one run to show
    that stacks of different names never collide in one account and region)."""
    app = cdk.App(outdir=outdir, context=context or {})
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    env = None
    if os.environ.get("CDK_DEFAULT_ACCOUNT"):
        env = cdk.Environment(
            account=os.environ["CDK_DEFAULT_ACCOUNT"], region=os.environ.get("CDK_DEFAULT_REGION")
        )
    settings = Settings.from_context(app.node)
    for name in stack_names:
        RollforwardStack(app, name, settings=settings, env=env)
    return app


if __name__ == "__main__":
    build_app().synth()
