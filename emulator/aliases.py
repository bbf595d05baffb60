"""UpdateAlias with RevisionId, as Lambda has it (moto ignores the parameter).

Every change to an alias gets a new revision id; an UpdateAlias that names an older one is
refused with 412 PreconditionFailedException. The canary sends the revision it read, so a human
change that lands between its GetAlias and its UpdateAlias is never overwritten.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from emulator.lambda_api import LambdaApiError

_installed = False


def install() -> None:
    global _installed
    if _installed:
        return
    from moto.awslambda.responses import LambdaResponse

    original = LambdaResponse.update_alias

    def update_alias(self: Any) -> Any:
        from urllib.parse import unquote

        function_name = unquote(self.path.rsplit("/")[-3])
        alias_name = unquote(self.path.rsplit("/", 2)[-1])
        expected = (json.loads(self.body or "{}") or {}).get("RevisionId")
        alias = self.backend.get_alias(alias_name, function_name)
        if expected and expected != alias.revision_id:
            raise LambdaApiError(
                "PreconditionFailedException",
                412,
                "The Revision Id provided does not match the latest Revision Id. Call the "
                "GetAlias API to retrieve the latest Revision Id",
            )
        response = original(self)
        alias.revision_id = str(uuid.uuid4())
        status, headers, _ = response
        return status, headers, json.dumps(alias.to_json())

    LambdaResponse.update_alias = update_alias  # type: ignore[method-assign]
    _installed = True
