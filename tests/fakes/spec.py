"""A small OpenAPI 3.0 request/response checker for the provider fakes.

It answers three questions for a fake: which operation does ``(method, concrete path)``
hit, is that operation deprecated, and do the request (path/query parameters, JSON body)
and the JSON response agree with what the provider's published description declares.

Schemas are translated once into JSON Schema draft 4 (the dialect OpenAPI 3.0 is built
on) and checked with ``jsonschema``:

- ``$ref`` into ``#/components/...`` is resolved through a ``referencing`` registry (into
  ``schemas``, and into the schemas inside ``responses``/``requestBodies``/``parameters``);
- a repeated query parameter declared ``explode: true`` or named ``...[]`` with a scalar
  schema (PagerDuty's ``statuses[]``) is checked value by value, and a declared
  ``explode: true`` array is not split on commas;
- ``nullable: true`` becomes ``anyOf: [{type: null}, <schema>]``;
- ``readOnly`` properties are not required in requests, ``writeOnly`` ones not in
  responses;
- ``oneOf`` is checked as ``anyOf`` and ``discriminator``/``example``/``xml`` are
  dropped (the Jira description's polymorphic schemas overlap);
- ``format`` is never checked (Jira's own timestamps, ``...123+0000``, are not RFC 3339).

Headers, cookies, security requirements and multipart bodies are not checked.

A description is read as JSON, or as YAML when the file name ends in ``.yaml``/``.yml``
(Zendesk publishes YAML). YAML is read with JSON's value types only: ``2024-01-01`` stays a
string (no YAML 1.1 timestamps), ``yes``/``no``/``on``/``off`` stay strings, and a bare ``=``
is the string ``"="`` (YAML 1.1 would make it a "value" tag no safe loader constructs).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]
from jsonschema import Draft4Validator  # type: ignore[import-untyped]
from referencing import Registry
from referencing.jsonschema import DRAFT4

__all__ = ["OpenAPISpec", "Operation", "ParamSpec", "load_spec", "read_document"]

METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
_REQ = "urn:openapi:request"
_RESP = "urn:openapi:response"
_DROP = {"example", "examples", "xml", "externalDocs", "description", "discriminator", "title"}


def _convert(schema: Any, mode: str) -> Any:
    """One OpenAPI 3.0 schema object → JSON Schema draft 4, for ``mode`` request|response."""
    if not isinstance(schema, dict):
        return schema
    prefix = _REQ if mode == "request" else _RESP
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _DROP or key == "nullable":
            continue
        if key == "$ref" and isinstance(value, str) and value.startswith("#/"):
            out[key] = prefix + value
        elif key == "properties" and isinstance(value, dict):
            out[key] = {name: _convert(sub, mode) for name, sub in value.items()}
        elif key in ("items", "not", "additionalProperties") and isinstance(value, dict):
            out[key] = _convert(value, mode)
        elif key in ("allOf", "anyOf", "oneOf") and isinstance(value, list):
            out["anyOf" if key == "oneOf" else key] = [_convert(sub, mode) for sub in value]
        else:
            out[key] = value
    if isinstance(out.get("required"), list) and isinstance(schema.get("properties"), dict):
        hidden = "readOnly" if mode == "request" else "writeOnly"
        props = schema["properties"]
        out["required"] = [
            name
            for name in out["required"]
            if not (isinstance(props.get(name), dict) and props[name].get(hidden))
        ]
        if not out["required"]:
            del out["required"]
    if schema.get("nullable") is True:
        return {"anyOf": [{"type": "null"}, out]}
    return out


def _convert_schemas_within(node: Any, mode: str) -> Any:
    """A copy of a non-schema component (response, parameter...) with its schemas converted."""
    if isinstance(node, list):
        return [_convert_schemas_within(item, mode) for item in node]
    if not isinstance(node, dict):
        return node
    return {
        key: _convert(value, mode) if key == "schema" else _convert_schemas_within(value, mode)
        for key, value in node.items()
    }


@dataclass(frozen=True)
class ParamSpec:
    name: str
    location: str  # "query" | "path" | "header" | "cookie"
    required: bool
    schema: dict[str, Any]  # converted (request mode)
    explode: bool | None = None  # as declared; None when the description says nothing


@dataclass
class Operation:
    method: str  # upper case
    template: str
    operation_id: str | None
    deprecated: bool
    summary: str
    params: dict[tuple[str, str], ParamSpec]
    raw: dict[str, Any] = field(repr=False)

    def response_statuses(self) -> set[str]:
        return set(self.raw.get("responses", {}))


class OpenAPISpec:
    """An OpenAPI 3.0 JSON description, indexed for lookups and validation."""

    def __init__(self, document: Mapping[str, Any], source: str = "<memory>") -> None:
        self.source = source
        self.document = document
        components = document.get("components", {})
        self._registry: Registry[Any] = Registry().with_resources(
            [
                (
                    uri,
                    DRAFT4.create_resource(self._converted_components(components, mode)),
                )
                for uri, mode in ((_REQ, "request"), (_RESP, "response"))
            ]
        )
        self._by_segments: dict[int, list[tuple[tuple[str | None, ...], str, dict[str, Any]]]] = {}
        for template, item in document.get("paths", {}).items():
            segments = tuple(
                None if re.fullmatch(r"\{[^/{}]+\}", seg) else seg
                for seg in template.strip("/").split("/")
            )
            self._by_segments.setdefault(len(segments), []).append((segments, template, item))
        for candidates in self._by_segments.values():
            # Most literal segments first, and literals earlier in the path win ties:
            # /issue/createmeta beats /issue/{issueIdOrKey}.
            candidates.sort(key=lambda c: [0 if s is not None else 1 for s in c[0]])
        self._operations: dict[tuple[str, str], Operation] = {}
        self._validators: dict[tuple[object, ...], Draft4Validator] = {}

    @staticmethod
    def _converted_components(components: Mapping[str, Any], mode: str) -> dict[str, Any]:
        converted: dict[str, Any] = {
            "schemas": {
                name: _convert(schema, mode)
                for name, schema in components.get("schemas", {}).items()
            }
        }
        # Some descriptions (PagerDuty's) point schema $refs into other components, e.g.
        # "#/components/responses/Conflict/content/application~1json/schema".
        for section in ("responses", "requestBodies", "parameters"):
            if isinstance(components.get(section), dict):
                converted[section] = _convert_schemas_within(components[section], mode)
        return {"components": converted}

    @classmethod
    def from_file(cls, path: str | Path) -> OpenAPISpec:
        return cls(read_document(path), source=str(path))

    # -- lookup ---------------------------------------------------------------------------

    def match(self, path: str) -> tuple[str, dict[str, str], dict[str, Any]] | None:
        """(template, path params, path item) for a concrete path, or None."""
        segments = path.strip("/").split("/")
        for template_segments, template, item in self._by_segments.get(len(segments), []):
            params: dict[str, str] = {}
            for pattern, actual in zip(template_segments, segments, strict=True):
                if pattern is None:
                    if not actual:
                        break
                    continue
                if pattern != actual:
                    break
            else:
                for raw, actual in zip(template.strip("/").split("/"), segments, strict=True):
                    if raw.startswith("{"):
                        params[raw[1:-1]] = actual
                return template, params, item
        return None

    def operation(self, method: str, path: str) -> tuple[Operation, dict[str, str]] | None:
        """The operation for ``method`` on a concrete ``path`` and its path parameters."""
        found = self.match(path)
        if found is None:
            return None
        template, path_params, item = found
        method = method.upper()
        op = self._operation(method, template, item)
        return (op, path_params) if op is not None else None

    def _operation(self, method: str, template: str, item: dict[str, Any]) -> Operation | None:
        key = (method, template)
        if key in self._operations:
            return self._operations[key]
        raw = item.get(method.lower())
        if not isinstance(raw, dict):
            return None
        params: dict[tuple[str, str], ParamSpec] = {}
        for param in [*item.get("parameters", []), *raw.get("parameters", [])]:
            param = self._deref(param)
            schema = _convert(param.get("schema", {}), "request")
            params[(param["in"], param["name"])] = ParamSpec(
                name=param["name"],
                location=param["in"],
                required=bool(param.get("required")) or param["in"] == "path",
                schema=schema,
                explode=param["explode"] if isinstance(param.get("explode"), bool) else None,
            )
        op = Operation(
            method=method,
            template=template,
            operation_id=raw.get("operationId"),
            deprecated=bool(raw.get("deprecated")),
            summary=raw.get("summary", ""),
            params=params,
            raw=raw,
        )
        self._operations[key] = op
        return op

    def _deref(self, obj: Any) -> Any:
        seen = 0
        while isinstance(obj, dict) and isinstance(obj.get("$ref"), str) and seen < 20:
            node: Any = self.document
            for part in obj["$ref"].lstrip("#/").split("/"):
                node = node[part.replace("~1", "/").replace("~0", "~")]
            obj = node
            seen += 1
        return obj

    # -- validation -----------------------------------------------------------------------

    def _validator(self, op: Operation, where: str, schema: Any) -> Draft4Validator:
        key = (op.method, op.template, where)
        validator = self._validators.get(key)
        if validator is None:
            mode = "request" if where == "request" else "response"
            validator = Draft4Validator(_convert(schema, mode), registry=self._registry)
            self._validators[key] = validator
        return validator

    def _errors(self, validator: Draft4Validator, instance: Any, label: str) -> list[str]:
        problems = []
        for error in sorted(validator.iter_errors(instance), key=lambda e: list(e.path)):
            where = "/".join(str(p) for p in error.absolute_path) or "(root)"
            message = error.message
            if len(message) > 300:
                message = message[:300] + "…"
            problems.append(f"{label} at {where}: {message}")
        return problems

    def validate_request(
        self,
        op: Operation,
        path_params: Mapping[str, str],
        query: Iterable[tuple[str, str]],
        content_type: str | None,
        body: Any = None,
        *,
        has_body: bool = False,
        strict_query: bool = True,
    ) -> list[str]:
        """Problems with a request to ``op``; ``body`` is the parsed JSON when JSON."""
        problems: list[str] = []
        values: dict[str, list[str]] = {}
        for name, value in query:
            values.setdefault(name, []).append(value)
        for (location, name), param in op.params.items():
            if location == "path":
                raw = [path_params[name]] if name in path_params else []
            elif location == "query":
                raw = values.get(name, [])
            else:
                continue
            if not raw:
                if param.required:
                    problems.append(f"missing required {location} parameter {name!r}")
                continue
            problems.extend(self._check_param(param, raw))
        if strict_query:
            declared = {name for (loc, name) in op.params if loc == "query"}
            for name in values:
                if name not in declared:
                    problems.append(f"query parameter {name!r} is not declared for this operation")
        problems.extend(self._check_body(op, content_type, body, has_body))
        return problems

    def _check_param(self, param: ParamSpec, raw: list[str]) -> list[str]:
        schema = self._deref_converted(param.schema)
        kind = schema.get("type")
        label = f"{param.location} parameter {param.name!r}"
        value: Any
        if kind == "array":
            item_schema = self._deref_converted(schema.get("items", {}))
            items: list[Any] = []
            for chunk in raw:
                # explode: true (declared) sends one value per repetition: no comma splitting.
                parts = [chunk] if param.explode is True or not chunk else chunk.split(",")
                for part in parts:
                    coerced, error = _coerce(part, item_schema.get("type"))
                    if error:
                        return [f"{label}: {error}"]
                    items.append(coerced)
            value = items
        elif len(raw) > 1 and (param.explode is True or param.name.endswith("[]")):
            # A repeatable parameter declared with its item's schema (PagerDuty's
            # ``statuses[]``: type string, explode true): check each value on its own.
            problems: list[str] = []
            for one in raw:
                problems.extend(self._check_param(param, [one]))
            return problems
        else:
            if len(raw) > 1:
                return [f"{label} given {len(raw)} times"]
            value, error = _coerce(raw[0], kind)
            if error:
                return [f"{label}: {error}"]
        key = ("param", param.location, id(param.schema))
        validator = self._validators.get(key)
        if validator is None:
            validator = Draft4Validator(param.schema, registry=self._registry)
            self._validators[key] = validator
        return self._errors(validator, value, label)

    def _deref_converted(self, schema: Any) -> dict[str, Any]:
        while isinstance(schema, dict) and isinstance(schema.get("$ref"), str):
            ref = schema["$ref"]
            uri, _, pointer = ref.partition("#")
            resolved = self._registry.resolver().lookup(f"{uri}#{pointer}")
            schema = resolved.contents
        return schema if isinstance(schema, dict) else {}

    def _check_body(
        self, op: Operation, content_type: str | None, body: Any, has_body: bool
    ) -> list[str]:
        request_body = self._deref(op.raw.get("requestBody"))
        if not request_body:
            return []
        content: dict[str, Any] = request_body.get("content", {})
        if not has_body:
            return ["request body is required"] if request_body.get("required") else []
        media = (content_type or "").split(";")[0].strip().lower()
        if media not in content and not any(
            _media_matches(media, declared) for declared in content
        ):
            return [f"request content type {media or '(none)'!r} not in {sorted(content)}"]
        if media != "application/json" or "application/json" not in content:
            return []
        schema = content["application/json"].get("schema")
        if schema is None:
            return []
        return self._errors(self._validator(op, "request", schema), body, "request body")

    def declared_response(self, op: Operation, status: int) -> dict[str, Any] | None:
        responses: dict[str, Any] = op.raw.get("responses", {})
        response = responses.get(str(status)) or responses.get(f"{status // 100}XX")
        if response is None:
            response = responses.get("default")
        return self._deref(response) if response is not None else None

    def validate_response(
        self, op: Operation, status: int, content_type: str | None, body: Any
    ) -> list[str]:
        """Problems with a JSON response (``body`` parsed) answered by ``op``."""
        response = self.declared_response(op, status)
        if response is None:
            if 200 <= status < 300:
                return [
                    f"status {status} is not a declared response ({sorted(op.response_statuses())})"
                ]
            return []
        media = (content_type or "").split(";")[0].strip().lower()
        content = response.get("content", {})
        entry = content.get(media)
        if entry is None or "schema" not in entry:
            return []
        return self._errors(
            self._validator(op, f"response {status}", entry["schema"]),
            body,
            f"response {status} body",
        )


def _media_matches(media: str, declared: str) -> bool:
    if declared in ("*/*", media):
        return True
    major, _, minor = declared.partition("/")
    return minor == "*" and media.startswith(major + "/")


def _coerce(raw: str, kind: Any) -> tuple[Any, str | None]:
    if kind == "integer":
        try:
            return int(raw), None
        except ValueError:
            return None, f"{raw!r} is not an integer"
    if kind == "number":
        try:
            return float(raw), None
        except ValueError:
            return None, f"{raw!r} is not a number"
    if kind == "boolean":
        if raw.lower() in ("true", "false"):
            return raw.lower() == "true", None
        return None, f"{raw!r} is not a boolean"
    return raw, None


_YAML_SUFFIXES = (".yaml", ".yml")
_YAML_BASE: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_YAML_DROPPED = {"tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:value", "tag:yaml.org,2002:bool"}


class _JsonTypesYamlLoader(_YAML_BASE):  # type: ignore[misc]
    """A safe YAML loader that yields JSON's types only (see the module docstring)."""

    yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag not in _YAML_DROPPED]
        for first, resolvers in _YAML_BASE.yaml_implicit_resolvers.items()
    }


_JsonTypesYamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)


def read_document(path: str | Path) -> Any:
    """The parsed description: YAML by suffix (``.yaml``/``.yml``), else JSON."""
    with open(path, "rb") as handle:
        if Path(path).suffix.lower() in _YAML_SUFFIXES:
            return yaml.load(handle, Loader=_JsonTypesYamlLoader)  # a safe loader (see above)
        return json.load(handle)


@lru_cache(maxsize=8)
def _load_cached(path: str, mtime_ns: int) -> OpenAPISpec:
    return OpenAPISpec.from_file(path)


def load_spec(path: str | Path) -> OpenAPISpec | None:
    """The spec at ``path``, parsed once per process (per file version); None when absent."""
    target = Path(path)
    if not target.is_file():
        return None
    return _load_cached(str(target.resolve()), target.stat().st_mtime_ns)
