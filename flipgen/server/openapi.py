"""``/openapi.json``, generated from the route groups' operations and the pydantic models.

Nothing here is written by hand but the prose: request and answer schemas come from
:mod:`flipgen.server.models`, the error responses from each operation's :class:`ErrorCode`\\ s.
The document never names the sites a server serves (their slugs are nobody's business).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from .api import Operation
from .models import ErrorBody, ErrorCode

__all__ = ["openapi_document"]

REF = "#/components/schemas/{model}"


def openapi_document(operations: Iterable[Operation]) -> dict[str, Any]:
    """The OpenAPI 3.1 description of every operation of the server."""
    from flipgen import __version__

    operations = list(operations)
    models: set[type[BaseModel]] = {ErrorBody}
    for op in operations:
        models |= {m for m in (op.request, op.response) if m is not None}
    ordered = sorted(models, key=lambda m: m.__name__)
    _, schemas = models_json_schema([(m, "validation") for m in ordered], ref_template=REF)
    paths: dict[str, dict[str, Any]] = {}
    for op in operations:
        paths.setdefault(op.path, {})[op.method] = _operation(op)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "flipgen token endpoint",
            "version": __version__,
            "description": "Mints short-lived Smile Wink user tokens for flipgen sites.",
        },
        "paths": paths,
        "components": {"schemas": schemas.get("$defs", {})},
    }


def _json(model: type[BaseModel]) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": REF.format(model=model.__name__)}}}


def _operation(op: Operation) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    if op.method == "options":
        responses["204"] = {"description": "allowed origin or no Origin"}
    elif op.response is not None:
        responses[str(op.success)] = {"description": op.response.__doc__ or "success", "content": _json(op.response)}
    by_status: dict[int, list[ErrorCode]] = {}
    for code in op.errors:
        by_status.setdefault(code.status, []).append(code)
    for status, codes in sorted(by_status.items()):
        response: dict[str, Any] = {"description": ", ".join(c.value for c in codes), "content": _json(ErrorBody)}
        if status == 429 or status == 503:
            response["headers"] = {
                "Retry-After": {
                    "required": status == 429,
                    "schema": {"type": "integer", "minimum": 1},
                    "description": "seconds to wait",
                }
            }
        if status == 405:
            response["headers"] = {"Allow": {"required": True, "schema": {"type": "string"}}}
        responses[str(status)] = response
    entry: dict[str, Any] = {"summary": op.summary, "responses": responses}
    names = re.findall(r"\{(\w+)\}", op.path)
    if names:
        entry["parameters"] = [{"name": n, "in": "path", "required": True, "schema": {"type": "string"}} for n in names]
    if op.request is not None:
        entry["requestBody"] = {"required": True, "content": _json(op.request)}
    return entry
