"""Deploy a synthesized CloudFormation template into the embedded AWS.

moto's CloudFormation covers only part of what the rollforward stack uses, so this walks the
template itself: resources in dependency order, intrinsic functions resolved, each resource
created through boto3 exactly as a user would. Resource types the emulator has no use for
(IAM policies, alarms, dashboards, KMS grants…) are recorded as deployed without an API call.

The template is always the one synthesized from infra/ — never a hand-kept copy.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from graphlib import TopologicalSorter
from typing import Any

import boto3

from emulator.state import STATE

ACCOUNT = "123456789012"


class ResourceFailed(Exception):
    """A resource CloudFormation would fail to create (CREATE_FAILED, with AWS's message)."""


@dataclass
class Deployment:
    stack_name: str
    region: str
    account: str
    physical: dict[str, str] = field(default_factory=dict)  # logical id -> Ref value
    attributes: dict[tuple[str, str], str] = field(default_factory=dict)  # (id, attr) -> value
    types: dict[str, str] = field(default_factory=dict)
    schedules: list[dict[str, Any]] = field(default_factory=list)
    rest_apis: dict[str, dict[str, Any]] = field(default_factory=dict)  # api id -> routes
    # Stack instances a StackSet of this stack deployed: "<account>/<region>" -> deployment.
    stack_instances: dict[str, Deployment] = field(default_factory=dict)

    def of_type(self, resource_type: str) -> dict[str, str]:
        return {k: self.physical[k] for k, t in self.types.items() if t == resource_type}

    def find(self, resource_type: str, logical_prefix: str) -> str:
        matches = [
            v for k, v in self.of_type(resource_type).items() if k.startswith(logical_prefix)
        ]
        if len(matches) != 1:
            raise KeyError(
                f"{len(matches)} {resource_type} resources start with {logical_prefix!r}"
            )
        return matches[0]


def _code_zip() -> bytes:
    """Placeholder code: rollforward's handlers run in process, the zip is never executed."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("README", "rollforward handlers run in process in the embedded AWS\n")
    return buffer.getvalue()


def _dependencies(value: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(value, dict):
        if "Ref" in value and isinstance(value["Ref"], str):
            found.add(value["Ref"])
        if "Fn::GetAtt" in value:
            target = value["Fn::GetAtt"]
            found.add(target[0] if isinstance(target, list) else target.split(".")[0])
        if "Fn::Sub" in value:
            text = value["Fn::Sub"] if isinstance(value["Fn::Sub"], str) else value["Fn::Sub"][0]
            found.update(name.split(".")[0] for name in re.findall(r"\$\{([^}!]+)\}", text))
        for item in value.values():
            found |= _dependencies(item)
    elif isinstance(value, list):
        for item in value:
            found |= _dependencies(item)
    return found


class TemplateDeployer:
    def __init__(
        self,
        template: dict[str, Any],
        stack_name: str,
        region: str,
        *,
        account: str = ACCOUNT,
        parameters: dict[str, str] | None = None,
        credentials: dict[str, str] | None = None,
    ) -> None:
        """`parameters` override the template's defaults (as CreateStack's Parameters do);
        `credentials` (boto3 client keyword arguments) deploy as another principal, e.g. into a
        member account (`account`) as a StackSet's execution role does."""
        self.template = template
        self.resources: dict[str, Any] = template.get("Resources", {})
        self.deployment = Deployment(stack_name, region, account)
        self.region = region
        self.parameters = dict(parameters or {})
        self.credentials = dict(credentials or {})
        self._clients: dict[str, Any] = {}
        self._conditions: dict[str, bool] = {}
        self._handlers: dict[str, Callable[[str, dict[str, Any]], None]] = {
            "AWS::KMS::Key": self._kms_key,
            "AWS::DynamoDB::GlobalTable": self._dynamodb_table,
            "AWS::DynamoDB::Table": self._dynamodb_table,
            "AWS::SNS::Topic": self._sns_topic,
            "AWS::Logs::LogGroup": self._log_group,
            "AWS::IAM::Role": self._iam_role,
            "AWS::IAM::Policy": self._iam_policy,
            "AWS::Lambda::Function": self._lambda_function,
            "AWS::Lambda::Permission": self._lambda_permission,
            "AWS::StepFunctions::StateMachine": self._state_machine,
            "AWS::Events::Rule": self._events_rule,
            "AWS::Scheduler::Schedule": self._schedule,
            "AWS::SSM::Parameter": self._ssm_parameter,
            "AWS::ApiGateway::RestApi": self._rest_api,
            "AWS::ApiGateway::Resource": self._api_resource,
            "AWS::ApiGateway::Method": self._api_method,
            "AWS::Events::EventBus": self._event_bus,
            "AWS::Events::EventBusPolicy": self._event_bus_policy,
            "AWS::CloudFormation::StackSet": self._stack_set,
        }

    def client(self, service: str) -> Any:
        if service not in self._clients:
            kwargs: dict[str, Any] = {"region_name": self.region, **self.credentials}
            if STATE.endpoint_url:
                kwargs["endpoint_url"] = STATE.endpoint_url
            self._clients[service] = boto3.client(service, **kwargs)
        return self._clients[service]

    # --- intrinsic functions -------------------------------------------------------------
    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((name, argument),) = value.items()
            if name == "Ref":
                return self._ref(argument)
            if name == "Fn::GetAtt":
                logical, attribute = (
                    argument if isinstance(argument, list) else argument.split(".", 1)
                )
                return self._get_att(logical, attribute)
            if name == "Fn::Join":
                separator, items = argument
                return separator.join(str(self.resolve(i)) for i in self.resolve(items))
            if name == "Fn::Sub":
                text, variables = (argument, {}) if isinstance(argument, str) else argument
                resolved_vars = {k: self.resolve(v) for k, v in variables.items()}

                def substitute(match: re.Match[str]) -> str:
                    name = match.group(1)
                    if name in resolved_vars:
                        return str(resolved_vars[name])
                    if "." in name:
                        logical, attribute = name.split(".", 1)
                        return str(self._get_att(logical, attribute))
                    return str(self._ref(name))

                return re.sub(r"\$\{([^}!]+)\}", substitute, text)
            if name == "Fn::Select":
                index, items = argument
                return self.resolve(items)[int(index)]
            if name == "Fn::Split":
                separator, text = argument
                return str(self.resolve(text)).split(separator)
            if name == "Fn::If":
                condition, when_true, when_false = argument
                return self.resolve(when_true if self.condition(condition) else when_false)
        return {k: self.resolve(v) for k, v in value.items()}

    def condition(self, name: str) -> bool:
        """A condition of the template's `Conditions` section, evaluated once (CloudFormation
        evaluates them at create or update, from parameters and pseudo parameters)."""
        if name not in self._conditions:
            declared = self.template.get("Conditions", {})
            if name not in declared:
                raise KeyError(f"unresolved Condition {name}")
            self._conditions[name] = self._holds(declared[name])
        return self._conditions[name]

    def _holds(self, expression: Any) -> bool:
        """Fn::Equals, Fn::Not, Fn::And, Fn::Or and references to other conditions."""
        ((name, argument),) = expression.items()
        if name == "Condition":
            return self.condition(argument)
        if name == "Fn::Equals":
            left, right = (self.resolve(side) for side in argument)
            return str(left) == str(right)
        if name == "Fn::Not":
            return not self._holds(argument[0])
        if name == "Fn::And":
            return all(self._holds(part) for part in argument)
        if name == "Fn::Or":
            return any(self._holds(part) for part in argument)
        raise ValueError(f"{name} is not a condition function")

    def _ref(self, name: str) -> Any:
        pseudo = {
            "AWS::Region": self.region,
            "AWS::AccountId": self.deployment.account,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": self.deployment.stack_name,
            "AWS::NoValue": None,
        }
        if name in pseudo:
            return pseudo[name]
        if name in self.deployment.physical:
            return self.deployment.physical[name]
        parameter = self.template.get("Parameters", {}).get(name)
        if parameter is not None:
            value = self.parameters.get(name, parameter.get("Default", ""))
            if parameter.get("Type") == "CommaDelimitedList" and isinstance(value, str):
                return [part.strip() for part in value.split(",") if part.strip()]
            return value
        raise KeyError(f"unresolved Ref {name}")

    def _get_att(self, logical: str, attribute: str) -> Any:
        key = (logical, attribute)
        if key in self.deployment.attributes:
            return self.deployment.attributes[key]
        # Resources the emulator does not create still get a plausible ARN.
        return f"arn:aws:emulated:{self.region}:{self.deployment.account}:{logical}/{attribute}"

    # --- the walk ------------------------------------------------------------------------
    def deploy(self) -> Deployment:
        graph = {
            logical: {
                dep
                for dep in _dependencies(spec.get("Properties", {}))
                | set(_as_list(spec.get("DependsOn")))
                if dep in self.resources
            }
            for logical, spec in self.resources.items()
        }
        for logical in TopologicalSorter(graph).static_order():
            spec = self.resources[logical]
            if "Condition" in spec and not self.condition(spec["Condition"]):
                continue  # CloudFormation creates no resource whose condition is false
            resource_type = spec["Type"]
            self.deployment.types[logical] = resource_type
            handler = self._handlers.get(resource_type)
            if handler is None:
                self.deployment.physical[logical] = f"{self.deployment.stack_name}-{logical}"
                continue
            handler(logical, self.resolve(spec.get("Properties", {})))
        return self.deployment

    def _name(self, logical: str, limit: int = 64) -> str:
        digest = hashlib.sha1(f"{self.deployment.stack_name}/{logical}".encode()).hexdigest()[:8]
        return f"{self.deployment.stack_name}-{logical}"[: limit - 9] + f"-{digest.upper()}"

    def _set(self, logical: str, ref: str, **attributes: str) -> None:
        self.deployment.physical[logical] = ref
        for attribute, value in attributes.items():
            self.deployment.attributes[(logical, attribute)] = value

    # --- resource types ------------------------------------------------------------------
    def _kms_key(self, logical: str, props: dict[str, Any]) -> None:
        key = self.client("kms").create_key(Description=props.get("Description", logical))
        metadata = key["KeyMetadata"]
        self._set(logical, metadata["KeyId"], Arn=metadata["Arn"])

    def _dynamodb_table(self, logical: str, props: dict[str, Any]) -> None:
        name = props.get("TableName") or self._name(logical)
        kwargs: dict[str, Any] = {
            "TableName": name,
            "KeySchema": props["KeySchema"],
            "AttributeDefinitions": props["AttributeDefinitions"],
            "BillingMode": "PAY_PER_REQUEST",
        }
        if props.get("GlobalSecondaryIndexes"):
            kwargs["GlobalSecondaryIndexes"] = [
                {k: v for k, v in index.items() if k in {"IndexName", "KeySchema", "Projection"}}
                for index in props["GlobalSecondaryIndexes"]
            ]
        table = self.client("dynamodb").create_table(**kwargs)["TableDescription"]
        ttl = props.get("TimeToLiveSpecification")
        if ttl and ttl.get("Enabled"):
            self.client("dynamodb").update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["AttributeName"]},
            )
        self._set(logical, name, Arn=table["TableArn"], StreamArn=table.get("LatestStreamArn", ""))

    def _sns_topic(self, logical: str, props: dict[str, Any]) -> None:
        name = props.get("TopicName") or self._name(logical, 256)
        arn = self.client("sns").create_topic(Name=name)["TopicArn"]
        self._set(logical, arn, TopicArn=arn, TopicName=name)

    def _log_group(self, logical: str, props: dict[str, Any]) -> None:
        name = props.get("LogGroupName") or f"/{self.deployment.stack_name}/{logical}"
        self.client("logs").create_log_group(logGroupName=name)
        if props.get("RetentionInDays"):
            self.client("logs").put_retention_policy(
                logGroupName=name, retentionInDays=int(props["RetentionInDays"])
            )
        arn = f"arn:aws:logs:{self.region}:{self.deployment.account}:log-group:{name}:*"
        self._set(logical, name, Arn=arn)

    def _iam_role(self, logical: str, props: dict[str, Any]) -> None:
        name = props.get("RoleName") or self._name(logical)
        role = self.client("iam").create_role(
            RoleName=name,
            AssumeRolePolicyDocument=json.dumps(props["AssumeRolePolicyDocument"]),
        )["Role"]
        self._set(logical, name, Arn=role["Arn"], RoleId=role["RoleId"])
        iam = self.client("iam")
        for policy in props.get("Policies", []):
            iam.put_role_policy(
                RoleName=name,
                PolicyName=policy["PolicyName"],
                PolicyDocument=json.dumps(policy["PolicyDocument"]),
            )
        for arn in props.get("ManagedPolicyArns", []):
            try:
                iam.attach_role_policy(RoleName=name, PolicyArn=arn)
            except iam.exceptions.NoSuchEntityException:
                # moto loads AWS managed policies only on request; such a role (API Gateway's
                # logging role) is never used by a call the emulator evaluates.
                continue

    def _iam_policy(self, logical: str, props: dict[str, Any]) -> None:
        """The policy as synthesized, inline on each of its roles: IAM enforcement
        (emulator.iam) evaluates every call of the stack's functions against it."""
        iam = self.client("iam")
        document = json.dumps(props["PolicyDocument"])
        for role in props.get("Roles", []):
            iam.put_role_policy(
                RoleName=role, PolicyName=props["PolicyName"], PolicyDocument=document
            )
        for user in props.get("Users", []):
            iam.put_user_policy(
                UserName=user, PolicyName=props["PolicyName"], PolicyDocument=document
            )
        for group in props.get("Groups", []):
            iam.put_group_policy(
                GroupName=group, PolicyName=props["PolicyName"], PolicyDocument=document
            )
        self._set(logical, f"{self.deployment.stack_name}-{logical}")

    def _lambda_function(self, logical: str, props: dict[str, Any]) -> None:
        name = props.get("FunctionName") or self._name(logical)
        kwargs: dict[str, Any] = {
            "FunctionName": name,
            "Role": props["Role"],
            "Code": {"ZipFile": _code_zip()},
            "Timeout": int(props.get("Timeout", 3)),
            "MemorySize": int(props.get("MemorySize", 128)),
            "Environment": props.get("Environment", {"Variables": {}}),
        }
        if props.get("Handler"):
            kwargs["Handler"] = props["Handler"]
        if props.get("Runtime"):
            kwargs["Runtime"] = props["Runtime"]
        if props.get("Architectures"):
            kwargs["Architectures"] = props["Architectures"]
        if props.get("PackageType"):
            kwargs["PackageType"] = props["PackageType"]
        if props.get("LoggingConfig"):
            kwargs["LoggingConfig"] = props["LoggingConfig"]
        created = self.client("lambda").create_function(**kwargs)
        self._set(logical, name, Arn=created["FunctionArn"])

    def _state_machine(self, logical: str, props: dict[str, Any]) -> None:
        name = props.get("StateMachineName") or self._name(logical, 80)
        definition = props.get("DefinitionString") or json.dumps(props["Definition"])
        created = self.client("stepfunctions").create_state_machine(
            name=name,
            definition=definition,
            roleArn=props["RoleArn"],
            type=props.get("StateMachineType", "STANDARD"),
        )
        arn = created["stateMachineArn"]
        self._set(logical, arn, Arn=arn, Name=name)

    def _events_rule(self, logical: str, props: dict[str, Any]) -> None:
        name = props.get("Name") or self._name(logical)
        events = self.client("events")
        kwargs: dict[str, Any] = {"Name": name, "State": props.get("State", "ENABLED")}
        if props.get("EventBusName"):
            kwargs["EventBusName"] = props["EventBusName"]
        if "EventPattern" in props:
            kwargs["EventPattern"] = json.dumps(props["EventPattern"])
        if "ScheduleExpression" in props:
            kwargs["ScheduleExpression"] = props["ScheduleExpression"]
        arn = events.put_rule(**kwargs)["RuleArn"]
        targets = [
            {
                k: (json.dumps(v) if k == "Input" and not isinstance(v, str) else v)
                for k, v in target.items()
                if k in {"Id", "Arn", "Input", "InputPath", "InputTransformer", "RoleArn"}
            }
            for target in props.get("Targets", [])
        ]
        if targets:
            bus = {"EventBusName": props["EventBusName"]} if props.get("EventBusName") else {}
            events.put_targets(Rule=name, Targets=targets, **bus)
        self._set(logical, name, Arn=arn)

    def _lambda_permission(self, logical: str, props: dict[str, Any]) -> None:
        """The function's resource-based policy statement (EventBridge and API Gateway invoke
        it as services; the emulator checks the EventBridge one on delivery)."""
        kwargs: dict[str, Any] = {
            "FunctionName": props["FunctionName"],
            "StatementId": logical[:100],
            "Action": props["Action"],
            "Principal": props["Principal"],
        }
        for key in ("SourceArn", "SourceAccount"):
            if props.get(key):
                kwargs[key] = props[key]
        self.client("lambda").add_permission(**kwargs)
        self._set(logical, logical)

    def _schedule(self, logical: str, props: dict[str, Any]) -> None:
        self.deployment.schedules.append(props)
        self._set(logical, props.get("Name") or self._name(logical))

    def _ssm_parameter(self, logical: str, props: dict[str, Any]) -> None:
        name = props.get("Name") or f"/{self.deployment.stack_name}/{logical}"
        self.client("ssm").put_parameter(
            Name=name, Value=str(props["Value"]), Type=props.get("Type", "String"), Overwrite=True
        )
        self._set(logical, name)

    def _rest_api(self, logical: str, props: dict[str, Any]) -> None:
        api = self.client("apigateway").create_rest_api(name=props.get("Name", logical))
        self.deployment.rest_apis[api["id"]] = {"routes": {}, "resources": {}}
        self._set(logical, api["id"], RootResourceId=api.get("rootResourceId", "root"))

    def _api_resource(self, logical: str, props: dict[str, Any]) -> None:
        api = self.deployment.rest_apis[props["RestApiId"]]
        parent = api["resources"].get(props["ParentId"], "")
        api["resources"][logical] = f"{parent}/{props['PathPart']}"
        self._set(logical, logical)

    def _api_method(self, logical: str, props: dict[str, Any]) -> None:
        api = self.deployment.rest_apis[props["RestApiId"]]
        path = api["resources"].get(props["ResourceId"], "/")
        uri = str(props.get("Integration", {}).get("Uri", ""))
        match = re.search(r"function:([^/:]+)", uri)
        api["routes"][(props["HttpMethod"], path)] = {
            "function": match.group(1) if match else None,
            "authorization": props.get("AuthorizationType", "NONE"),
        }
        self._set(logical, logical)

    def _event_bus(self, logical: str, props: dict[str, Any]) -> None:
        name = props.get("Name") or self._name(logical)
        arn = self.client("events").create_event_bus(Name=name)["EventBusArn"]
        self._set(logical, name, Arn=arn, Name=name)

    def _event_bus_policy(self, logical: str, props: dict[str, Any]) -> None:
        statement = {"Sid": props["StatementId"], **props["Statement"]}
        self.client("events").put_permission(
            EventBusName=props.get("EventBusName", "default"),
            Policy=json.dumps({"Version": "2012-10-17", "Statement": [statement]}),
        )
        self._set(logical, props["StatementId"])

    def _stack_set(self, logical: str, props: dict[str, Any]) -> None:
        """A service-managed StackSet: its template in every account of the organization
        (`emulator.accounts`) but the management account, in every region of each instance
        group, as the StackSet's execution role in that account; auto-deployment reaches
        accounts that join later only through a new deployment of the stack."""
        from emulator.accounts import organization_accounts, stack_set_credentials
        from emulator.organizations import is_management, stack_set_refusal

        name = props.get("StackSetName") or self._name(logical, 128)
        if props.get("PermissionModel") == "SERVICE_MANAGED":
            refusal = stack_set_refusal(self.deployment.account, props.get("CallAs") or "SELF")
            if refusal:
                raise ResourceFailed(f"{logical} (AWS::CloudFormation::StackSet): {refusal}")
        body = json.loads(props["TemplateBody"])
        parameters = {p["ParameterKey"]: str(p["ParameterValue"]) for p in props["Parameters"]}
        # StackSets never deploys to the management account (StackSets User Guide, "Target
        # accounts"); the delegated administrator's own account is a target like any other
        # (deployed as itself: it has no OrganizationAccountAccessRole to be assumed).
        own = self.deployment.account
        accounts = [a for a in organization_accounts(own) if not is_management(a)]
        for group in props.get("StackInstancesGroup", []):
            for account in accounts:
                for region in group["Regions"]:
                    instance = TemplateDeployer(
                        body,
                        f"StackSet-{name}",
                        region,
                        account=account,
                        parameters=parameters,
                        credentials=None if account == own else stack_set_credentials(account),
                    ).deploy()
                    self.deployment.stack_instances[f"{account}/{region}"] = instance
        self._set(logical, f"{name}:{hashlib.sha1(name.encode()).hexdigest()[:8]}")


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


DEPLOYMENTS: dict[str, Deployment] = {}


def deploy_template(
    template: dict[str, Any],
    stack_name: str = "Rollforward",
    region: str = "us-east-1",
    parameters: dict[str, str] | None = None,
) -> Deployment:
    deployment = TemplateDeployer(template, stack_name, region, parameters=parameters).deploy()
    DEPLOYMENTS[stack_name] = deployment
    return deployment
