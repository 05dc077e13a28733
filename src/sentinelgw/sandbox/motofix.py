"""Gaps in moto that the sandbox fills, so ``sentinel init tvm`` runs on it end to end.

- **The signature of a request without a body.** With IAM enforcement on, moto recomputes
  each request's SigV4 signature. For a request with no body and no query string (Lambda's
  ``GetFunction``, ``GetFunctionUrlConfig``, ``ListFunctions``...) it signs the request's
  *headers* as if they were the payload (and for a GET with a query string, the query), so
  every such call fails with ``SignatureDoesNotMatch``. :func:`install` makes moto sign the
  empty body a GET, HEAD or DELETE without a body has, which is what AWS does. Form-encoded
  POSTs (STS, IAM) keep moto's own handling, which is right for them.
- **``AWS::Lambda::Url`` in CloudFormation.** moto's CloudFormation does not know the Function
  URL resource, so a stack with one would have no URL and no ``FunctionUrl`` attribute.
  :class:`FunctionUrlResource` creates, updates and deletes it through moto's own Lambda
  backend, as CloudFormation does on AWS.
- **A role's policies in CloudFormation.** moto stores a stack role's inline policies as Python
  objects (``GetRolePolicy`` then answers their ``repr``, which is not JSON) and, on a stack
  update, changes neither the inline policies nor the trust policy. :func:`install` stores them
  as JSON and applies both on update, as AWS does.
- **Routing a request.** moto's server lists its own package folder (some 200 entries, with a
  ``stat`` of each) on every request, to see whether the Host names a service folder. The
  folders do not change while the sandbox runs: :func:`install` lists them once. That listing
  was about a sixth of the server's CPU per call.

All are installed once per process, when a sandbox starts. Nothing here is used outside the
sandbox.
"""

from __future__ import annotations

import json
import threading
from typing import Any

from moto.core.common_models import CloudFormationModel

_BODILESS = frozenset({"GET", "HEAD", "DELETE"})
_installed = False
_lock = threading.Lock()


def install() -> None:
    """Patch moto's signature check and register the Function URL resource (idempotent)."""
    global _installed
    with _lock:
        if _installed:
            return
        import sys

        from moto.iam.access_control import IAMRequestBase

        original = IAMRequestBase._create_aws_request

        def signed_over_the_body(self: Any) -> Any:
            request = original(self)
            if self._method in _BODILESS and not self._body:
                request.data = b""  # moto signed its parsed parameters: the payload was empty
            return request

        IAMRequestBase._create_aws_request = signed_over_the_body  # type: ignore[method-assign]
        _list_service_folders_once()
        _fix_role_resource()
        # moto's CloudFormation lists CloudFormationModel's subclasses when it first parses a
        # template, in three caches. If its parser is already imported, they are cleared so
        # that FunctionUrlResource is found; if not, it finds it by itself. Importing the parser
        # here would import every moto service (about 650 modules) at each sandbox start: half
        # a CPU-second of every `sentinel dev`, the demo and each test worker.
        parsing = sys.modules.get("moto.cloudformation.parsing")
        if parsing is not None:
            parsing.get_model_list.cache_clear()
            parsing.get_model_map.cache_clear()
            parsing.get_name_type_map.cache_clear()
        _installed = True


def _fix_role_resource() -> None:
    from moto.iam.models import Role, iam_backends

    create = Role.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]
    update = Role.update_from_cloudformation_json.__func__  # type: ignore[attr-defined]

    def created(
        cls: Any, /, name: str, template: dict[str, Any], account: str, region: str, **kw: Any
    ) -> Any:
        props = template["Properties"]
        props["Policies"] = [
            {**p, "PolicyDocument": _json(p["PolicyDocument"])} for p in props.get("Policies", [])
        ]
        return create(cls, name, template, account, region, **kw)

    def updated(
        cls: Any,
        /,
        original_resource: Any,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> Any:
        role = update(
            cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name
        )
        props = cloudformation_json["Properties"]
        backend = iam_backends[account_id]["aws"]
        backend.update_assume_role_policy(role.name, _json(props["AssumeRolePolicyDocument"]))
        wanted = {p["PolicyName"]: _json(p["PolicyDocument"]) for p in props.get("Policies", [])}
        for name in list(role.policies):
            if name not in wanted:
                backend.delete_role_policy(role.name, name)
        for name, document in wanted.items():
            backend.put_role_policy(role.name, name, document)
        return role

    setattr(Role, "create_from_cloudformation_json", classmethod(created))  # noqa: B010
    setattr(Role, "update_from_cloudformation_json", classmethod(updated))  # noqa: B010


def _list_service_folders_once() -> None:
    from moto import backends

    folders = frozenset(backends.list_of_moto_modules())
    backends.list_of_moto_modules = lambda: folders


def _json(document: Any) -> str:
    return document if isinstance(document, str) else json.dumps(document)


class FunctionUrlResource(CloudFormationModel):
    """``AWS::Lambda::Url`` for moto's CloudFormation, backed by moto's Lambda backend."""

    def __init__(self, function_arn: str, url: str, account_id: str, region: str) -> None:
        self.function_arn = function_arn
        self.url = url
        self.account_id = account_id
        self.region = region

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::Lambda::Url"

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @property
    def physical_resource_id(self) -> str:
        return self.function_arn

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in ("FunctionUrl", "FunctionArn")

    def get_cfn_attribute(self, attribute_name: str) -> str:
        if attribute_name == "FunctionUrl":
            return self.url
        return self.function_arn

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> FunctionUrlResource:
        props = cloudformation_json["Properties"]
        arn = str(props["TargetFunctionArn"])
        config = _backend(account_id, region_name).create_function_url_config(
            arn, {"AuthType": props.get("AuthType"), "Cors": props.get("Cors")}
        )
        return cls(arn, str(config.url), account_id, region_name)

    @classmethod
    def update_from_cloudformation_json(
        cls,
        original_resource: FunctionUrlResource,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> FunctionUrlResource:
        props = cloudformation_json["Properties"]
        backend = _backend(account_id, region_name)
        config = backend.get_function_url_config(original_resource.function_arn)
        config.config["AuthType"] = props.get("AuthType")
        return original_resource

    def delete(self, account_id: str, region: str) -> None:
        try:
            _backend(account_id, region).delete_function_url_config(self.function_arn)
        except Exception:  # the function, and so its URL, may already be gone
            return


def _backend(account_id: str, region: str) -> Any:
    from moto.awslambda.models import lambda_backends

    return lambda_backends[account_id][region]
