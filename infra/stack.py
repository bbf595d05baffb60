"""The rollforward stack: a short list of parts, each in `infra/constructs/`; it only wires
resources (behaviour lives in lambdas/ and workflows/).

Every part creates its resources in the stack's own scope, not under a construct of its own:
the logical ids stay those the stack has always had, so a deployed stack updates in place (a
construct scope would prefix every logical id, and CloudFormation would replace every resource
— the retained ledger and audit trail included). Parts added later, whose resources are new,
may be real `Construct`s (`Observability` is one).
"""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_lambda as lambda_
from constructs import Construct
from rollforward.policy import Policy

from infra.constructs import Observability
from infra.constructs.api import DecisionApi
from infra.constructs.discovery import Discovery
from infra.constructs.functions import EntryFunctions, FunctionFactory, TaskFunctions
from infra.constructs.grants import grant_all
from infra.constructs.members import Members
from infra.constructs.notices import Notices
from infra.constructs.remediation import Remediation
from infra.constructs.scan_machine import ScanMachine
from infra.constructs.storage import Storage
from infra.constructs.triggers import Triggers
from infra.settings import Settings


class RollforwardStack(Stack):
    """The hub of one account and region: state, notices, functions, the remediation machine,
    what starts it, the decision API, discovery, observability and every grant."""

    def __init__(self, scope: Construct, construct_id: str, settings: Settings, **kwargs: object):
        super().__init__(scope, construct_id, **kwargs)  # type: ignore[arg-type]
        # Fail the synth, not the first execution, on a bad policy.
        policy = Policy.from_json(settings.policy) if settings.policy else Policy.default()

        self.storage = Storage(self, settings)
        self.notices = Notices(self, self.storage.key)
        factory = FunctionFactory(self, settings, policy, self.storage, self.notices)
        self.tasks = TaskFunctions(factory)
        self.remediation = Remediation(self, self.storage.key, self.tasks)
        self.entries = EntryFunctions(
            factory, settings, self.remediation.state_machine, self.tasks.canary
        )
        # The hourly scan cycle: a Distributed Map over every (account, region) (workflows/scan.py).
        self.scan_machine = ScanMachine(
            self, "ScanCycle", key=self.storage.key, scan=self.entries.scan
        )
        self.triggers = Triggers(self, settings, self.entries, self.scan_machine.state_machine)
        # Hub and spokes: only an install that names an Organization serves other accounts.
        self.members = (
            Members(self, "Members", settings=settings, tasks=self.tasks, entries=self.entries)
            if settings.is_hub
            else None
        )
        self.decision_api = DecisionApi(self, settings, self.storage, self.tasks.decision)
        self.discovery = Discovery(
            self,
            storage=self.storage,
            notices=self.notices,
            remediation=self.remediation,
            api=self.decision_api,
            tasks=self.tasks,
            entries=self.entries,
            scan_machine=self.scan_machine,
        )
        self.observability = Observability(
            self,
            "Observability",
            audit_log_group=self.storage.audit_log_group,
            state_machine=self.remediation.state_machine,
            # Every rollforward function, so a new one is on the dashboard without a list to keep.
            functions={
                child.node.id: child
                for child in self.node.children
                if isinstance(child, lambda_.Function)
            },
            key=self.storage.key,
            oncall_topic=self.notices.oncall,
            scan_machine=self.scan_machine.state_machine,
        )
        grant_all(
            storage=self.storage,
            notices=self.notices,
            remediation=self.remediation,
            tasks=self.tasks,
            entries=self.entries,
        )
        # Last: it conditions key policy statements the parts above added.
        self.storage.narrow_log_delivery_key_use()
