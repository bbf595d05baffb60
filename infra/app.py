"""The CDK app (`cdk.json` runs this): `cdk synth`, `cdk deploy`."""

from __future__ import annotations

import os

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from infra.settings import Settings
from infra.stack import RollforwardStack

STACK_NAME = "Rollforward"

# An example hub (the org settings an Organization-wide install passes as context), synthesized
# beside the default stack by the context-free synthesis so that cdk-nag and cfn-lint cover it
# and the embedded AWS can deploy it (`rollforward emulator --deploy --member-accounts`: its
# Organization, OUs and regions are parameters, overridden there). A real install passes
# `-c organization_id=o-... -c member_ous=ou-... -c member_regions=us-east-1,eu-west-1`.
EXAMPLE_ORGANIZATION = "o-exampleorg1"
EXAMPLE_MEMBER_OUS = ("r-exam",)
EXAMPLE_MEMBER_REGIONS = ("us-east-1",)


def build_app(
    outdir: str | None = None,
    context: dict[str, object] | None = None,
    stack_names: tuple[str, ...] = (STACK_NAME,),
    hub_stack_names: tuple[str, ...] = (),
) -> cdk.App:
    """The app, with cdk-nag's AwsSolutions pack as a validation plugin: any finding that is not
    acknowledged (with a reason, where the construct is made) fails `synth()`, and the assembly's
    `validation-report.json` lists every acknowledged one with its reason.

    `stack_names`: one stack per name, same settings (tests synthesize two in one run to show
    that stacks of different names never collide in one account and region).
    `hub_stack_names`: stacks with the `EXAMPLE_*` Organization over the context's settings, and the
    member stack beside them (its template is the hubs' StackSet body)."""
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
    if hub_stack_names:
        from dataclasses import replace

        from infra.member_stack import MEMBER_STACK_NAME, MemberStack

        hub = replace(
            settings,
            organization_id=EXAMPLE_ORGANIZATION,
            member_ous=EXAMPLE_MEMBER_OUS,
            member_regions=EXAMPLE_MEMBER_REGIONS,
        )
        for name in hub_stack_names:
            RollforwardStack(app, name, settings=hub, env=env)
        MemberStack(app, MEMBER_STACK_NAME)
    return app


if __name__ == "__main__":
    build_app().synth()
