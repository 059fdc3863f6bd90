"""An in-memory Autotask PSA REST API v1.0 (Tickets) on a real socket, for plugin tests.

Usage::

    async with FakeAutotask() as at:
        at.url                                   # http://127.0.0.1:<port>/atservicesrest
        at.api_url                               # http://127.0.0.1:<port>/ATServicesRest/V1.0/
        at.headers()                             # ApiIntegrationCode / UserName / Secret
        t = at.seed_ticket(title="Printer on fire", companyID=174, status=1, priority=2)
        at.fail_next(status=500, path="/Tickets/query")
        at.set_threshold(100)                    # the hourly request threshold
        ...
        at.assert_no_violations()                # nothing the real API drops silently was sent

No machine-readable description of the API could be brought here (the official Swagger 2.0
is served per zone only; see ``shared/specs/SOURCES.md``), so nothing is validated against
a spec. The behaviour is written from these sources; ``[D]`` marks Autotask's own
documentation, ``[SW]`` the third-party copies of the official Swagger (api-evangelist's
``kaseya-tickets-api-openapi.yml``: TicketModel, QueryModel, Filter, PagingModel,
OperationResultModel, FieldInformationModel, PickListValue, EntityInformationModel,
ThresholdStatusResultModel), ``[P]`` Autotask's official Postman collection
(``AutotaskDevelopment/REST-Postman``) and ``[3P]`` third-party reports:

- Paths under ``/atservicesrest/v1.0/`` matched case-insensitively [P: ``tickets/query``,
  ``Companies/entityinformation``, ``zoneInformation``; the next-page URLs use
  ``ATServicesRest/V1.0``]. Auth headers ``ApiIntegrationCode``, ``UserName``, ``Secret``
  (``ImpersonationResourceId`` optional) on every call but ZoneInformation [SW, P].
- ``GET .../ZoneInformation?user=`` (no credentials) → ``{zoneName, url, webUrl, ci}`` [P];
  ``GET .../ThresholdInformation`` → ``{externalRequestThreshold,
  requestThresholdTimeframe, currentTimeframeRequestCount}`` [SW, P].
- Tickets: ``POST /Tickets`` → ``{"itemId": n}``; ``PATCH /Tickets`` (partial, body with
  ``id``) and ``PUT /Tickets`` (full: omitted writable fields become null) → ``{"itemId":
  n}`` [D: REST_Updating_Data_PATCH/PUT]; ``GET /Tickets/{id}`` → ``{"item": {...}}``, and
  ``{"item": null}`` when there is no such ticket [3P: django-autotask]; no DELETE [SW].
- Queries: ``POST /{Entity}/query`` (QueryModel body) and ``GET /{Entity}/query?search=``
  [SW, P], ``/query/count`` → ``{"queryCount": n}``, ``/query/next`` for the next page.
  Filters ``eq noteq gt gte lt lte beginsWith endsWith contains exist notExist in notIn``
  plus ``and``/``or`` groups with ``items``; ``udf: true`` for user-defined fields [D, P].
  Answer ``{"items": [...], "pageDetails": {count, requestCount, prevPageUrl,
  nextPageUrl}}`` [SW]; items sorted by id, at most 500 a page [D, SOAP query()].
- Metadata: ``/{Entity}/entityInformation``, ``/entityInformation/fields`` (picklists
  with ``value`` as a string, ``label``, ``isDefaultValue``, ``sortOrder``,
  ``parentValue``, ``isActive``, ``isSystem``), ``/entityInformation/userDefinedFields``
  [SW; 3P: django-autotask fixtures]. ``creatorType`` and ``lastActivityPersonType`` are
  not queryable [D: TicketsEntity].
- Errors: writes that fail answer 500 ``{"errors": ["..."]}`` [D: REST_Creating_Resources
  _POST]; wrong credentials 401 with an empty body [SW declares no body; 3P: "rejected with
  no detail"].
- Limits: 10,000 requests per rolling hour per database, latency added at 50% and 75%,
  blocked at 100% [D: REST_Thresholds_Limits]; 3 concurrent threads per integration
  code and object endpoint, ZoneInformation exempt [D: ThreadLimiting], refused with 429
  "API thread threshold of 3 threads has been exceeded" [3P].
- Companies, Contacts and Resources are served read-only (GET by id, query, metadata), so
  a plugin can resolve names and validate references.

Plus a fault switch (``fail_next``) and a request log (``requests``, ``calls``). The
conventions chosen where the sources are silent are listed on :class:`FakeAutotask`.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import re
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from aiohttp import web

from .base import RecordedRequest as _RecordedRequest
from .base import RetryFakeServer, RetryFault, Violations, seconds
from .base import json_response as _json

__all__ = [
    "COMPANY_TYPES",
    "ISSUE_TYPES",
    "PRIORITIES",
    "QUEUES",
    "SOURCES",
    "STATUSES",
    "SUB_ISSUE_TYPES",
    "TICKET_CATEGORIES",
    "TICKET_TYPES",
    "ApiUser",
    "Entity",
    "FakeAutotask",
    "Fault",
    "Field",
    "Ignored",
    "Pick",
    "RecordedRequest",
    "Udf",
    "at_time",
    "parse_at_time",
]

Record = dict[str, Any]

# -- default picklists (a tenant's choice: labels and values are tenant-specific) ---------


@dataclass(frozen=True)
class Pick:
    """One picklist value (``PickListValue``); ``value`` is rendered as a string."""

    value: int
    label: str
    active: bool = True
    default: bool = False
    system: bool = False
    sort: int = 0
    parent: int | None = None

    def json(self) -> dict[str, Any]:
        return {
            "value": str(self.value),
            "label": self.label,
            "isDefaultValue": self.default,
            "sortOrder": self.sort,
            "parentValue": "" if self.parent is None else str(self.parent),
            "isActive": self.active,
            "isSystem": self.system,
        }


def _picks(*rows: tuple[Any, ...]) -> tuple[Pick, ...]:
    return tuple(
        Pick(r[0], r[1], **(r[2] if len(r) > 2 else {}), sort=i + 1) for i, r in enumerate(rows)
    )


STATUSES = _picks(
    (1, "New", {"default": True, "system": True}),
    (5, "Complete", {"system": True}),
    (7, "Waiting Customer"),
    (8, "In Progress"),
    (9, "Waiting Materials"),
    (10, "Dispatched"),
    (11, "Escalate"),
    (12, "Waiting Vendor"),
    (13, "Waiting Approval"),
    (17, "On Hold"),
    (19, "Awaiting Legacy Review", {"active": False}),
)
PRIORITIES = _picks(
    (4, "Critical"),
    (1, "High"),
    (2, "Medium", {"default": True}),
    (3, "Low"),
    (5, "Planning", {"active": False}),
)
QUEUES = _picks(
    (5, "Client Portal", {"system": True}),
    (6, "Post Sale", {"system": True}),
    (8, "Monitoring Alert", {"system": True}),
    (29682833, "Level I Support"),
    (29682969, "Level II Support"),
    (29683354, "Recurring Tickets"),
    (29683481, "Triage (retired)", {"active": False}),
)
ISSUE_TYPES = _picks((2, "Hardware"), (3, "Software"), (4, "Network"), (5, "Security"))
SUB_ISSUE_TYPES = _picks(
    (10, "Printer", {"parent": 2}),
    (11, "Laptop", {"parent": 2}),
    (12, "Email", {"parent": 3}),
    (13, "Office Suite", {"parent": 3}),
    (14, "VPN", {"parent": 4}),
    (15, "Firewall", {"parent": 4}),
    (16, "Phishing", {"parent": 5}),
    (17, "Malware", {"parent": 5}),
    (18, "Fax (retired)", {"parent": 2, "active": False}),
)
TICKET_CATEGORIES = _picks(
    (1, "Standard (non-editable)", {"system": True}),
    (2, "Standard", {"default": True}),
    (3, "AEM Alert"),
    (4, "Change Request"),
    (5, "Security Incident"),
    (6, "Old Category", {"active": False}),
)
TICKET_TYPES = _picks(
    (1, "Service Request", {"default": True, "system": True}),
    (2, "Incident", {"system": True}),
    (3, "Problem", {"system": True}),
    (4, "Change Request", {"system": True}),
    (5, "Alert", {"system": True}),
)
SOURCES = _picks(
    (1, "Other"), (2, "Insourced"), (4, "Phone"), (6, "Email"), (8, "Web Portal"), (11, "Monitor")
)
PERSON_TYPES = _picks((1, "Resource", {"system": True}), (2, "Contact", {"system": True}))
COMPANY_TYPES = _picks(
    (1, "Customer"),
    (2, "Lead"),
    (3, "Prospect"),
    (4, "Dead"),
    (6, "Cancelation"),
    (7, "Vendor"),
    (8, "Partner"),
)
UDF_ROOT_CAUSES = _picks((1, "Hardware failure"), (2, "User error"), (3, "Vendor outage"))

MAX_RECORDS = 500
COMPLETE = 5
PERSON_RESOURCE = 1
ASSIGN_BOTH = (
    "When assigning a Resource, you must assign both a assignedResourceID and "
    "assignedResourceRoleID."
)
NET_TYPES = {
    "integer": "System.Int32",
    "long": "System.Int64",
    "double": "System.Double",
    "boolean": "System.Boolean",
    "datetime": "System.DateTime",
    "string": "System.String",
}

# -- time ---------------------------------------------------------------------------------

_DT = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,7}))?)?)?"
    r"(Z|[+-]\d{2}:?\d{2})?$"
)


def at_time(when: datetime) -> str:
    """How the API renders a date-time: UTC, ``Z``, milliseconds with trailing zeros (and
    the dot) dropped, as .NET's ``FFF`` does: ``2024-03-10T18:30:05Z``,
    ``2024-03-10T18:30:05.12Z``."""
    when = when.astimezone(UTC)
    frac = f"{when.microsecond // 1000:03d}".rstrip("0")
    base = when.strftime("%Y-%m-%dT%H:%M:%S")
    return f"{base}.{frac}Z" if frac else f"{base}Z"


def parse_at_time(text: str) -> datetime | None:
    """An ISO 8601 date or date-time as the API accepts it; no offset means UTC."""
    m = _DT.match(text.strip())
    if m is None:
        return None
    year, month, day, hour, minute, second, frac, zone = m.groups()
    try:
        when = datetime(
            int(year),
            int(month),
            int(day),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            int((frac or "0").ljust(6, "0")[:6]),
            tzinfo=UTC,
        )
    except ValueError:
        return None
    if zone and zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        digits = zone[1:].replace(":", "")
        when -= sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    return _ms(when)


def _ms(when: datetime) -> datetime:
    return when.replace(microsecond=when.microsecond // 1000 * 1000)


# -- model --------------------------------------------------------------------------------


@dataclass
class Field:
    """One standard field of an entity (``FieldInformationModel``)."""

    name: str
    type: str  # integer | long | double | boolean | datetime | string
    length: int = 0
    required: bool = False
    read_only: bool = False
    queryable: bool = True
    reference: str = ""  # referenceEntityType
    picklist: tuple[Pick, ...] | None = None
    parent: str = ""  # picklistParentValueField

    def pick(self, value: Any) -> Pick | None:
        return next((p for p in self.picklist or () if p.value == value), None)

    def json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "dataType": self.type,
            "length": self.length,
            "isRequired": self.required,
            "isReadOnly": self.read_only,
            "isQueryable": self.queryable,
            "isReference": bool(self.reference),
            "referenceEntityType": self.reference,
            "isPickList": self.picklist is not None,
            "picklistValues": (
                [p.json() for p in self.picklist] if self.picklist is not None else None
            ),
            "picklistParentValueField": self.parent,
            "isSupportedWebhookField": not self.read_only,
        }


@dataclass
class Udf:
    """A user-defined field; values travel as strings in ``userDefinedFields``."""

    name: str
    type: str = "string"  # string | number | datetime | list
    length: int = 100
    required: bool = False
    picklist: tuple[Pick, ...] | None = None
    description: str = ""

    @property
    def kind(self) -> str:
        return {"number": "double", "datetime": "datetime"}.get(self.type, "string")

    def json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "label": self.name,
            "type": {"number": "double", "datetime": "datetime"}.get(self.type, "string"),
            "length": self.length if self.type == "string" else 0,
            "description": self.description,
            "isRequired": self.required,
            "isReadOnly": False,
            "isQueryable": True,
            "isReference": False,
            "referenceEntityType": "",
            "isPickList": self.picklist is not None,
            "picklistValues": (
                [p.json() for p in self.picklist] if self.picklist is not None else None
            ),
            "picklistParentValueField": "",
            "defaultValue": None,
            "isSupportedWebhookField": True,
        }


@dataclass
class Entity:
    """An entity with its fields (in the API's order) and stored records."""

    path: str  # Tickets
    name: str  # Ticket (entityInformation name, referenceEntityType)
    fields: dict[str, Field]  # by lower-case name
    udfs: dict[str, Udf] = field(default_factory=dict)  # by lower-case name
    records: dict[int, Record] = field(default_factory=dict)
    writable: bool = False
    hidden: set[int] = field(default_factory=set)  # ids the API user may not see

    def visible(self, item_id: int) -> Record | None:
        return None if item_id in self.hidden else self.records.get(item_id)


@dataclass
class ApiUser:
    username: str
    secret: str
    resource_id: int


@dataclass
class Ignored:
    """Something the real API would accept and silently drop, noted for tests."""

    where: str  # body | query
    entity: str
    name: str
    reason: str

    def __str__(self) -> str:
        return f"{self.where} {self.entity}.{self.name}: {self.reason}"


@dataclass
class Fault(RetryFault):
    """One entry of the fault switch; see :meth:`FakeAutotask.fail_next`."""

    @staticmethod
    def _path_matches(path: str, prefix: str) -> bool:
        return _path_matches(path, prefix)


@dataclass
class RecordedRequest(_RecordedRequest):
    body: bytes = b""
    user: str | None = None  # who it authenticated as


class AtError(Exception):
    """Raised inside handlers; becomes ``{"errors": [...]}`` with ``status``."""

    def __init__(self, status: int, *errors: str) -> None:
        super().__init__(status, *errors)
        self.status = status
        self.errors = list(errors)


class _AspNet(Exception):
    """A framework-level answer (404/405/415): ``{"Message": ...}`` as ASP.NET Web API."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(status, message)
        self.status = status
        self.message = message


class _Bad(Exception):
    pass


def _errors(status: int, *messages: str, headers: Mapping[str, str] | None = None) -> web.Response:
    return _json({"errors": list(messages)}, status, headers)


def _rel(path: str) -> str:
    low = path.lower()
    prefix = "/atservicesrest/v1.0"
    return (low[len(prefix) :] or "/") if low.startswith(prefix) else low


def _path_matches(path: str, prefix: str) -> bool:
    """``prefix`` is a full path (``/atservicesrest/v1.0/Tickets``) or one relative to the
    version (``/Tickets/query``); both are compared case-insensitively."""
    low, want = path.lower(), prefix.lower()
    return low.startswith(want) or _rel(low).startswith(want)


def _net_quote(text: str) -> str:
    """Percent-encode as .NET's ``HttpUtility.UrlEncode`` shows it: lower-case hex."""
    return re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), quote(text, safe=""))


def _lower_keys(obj: Mapping[Any, Any]) -> dict[str, tuple[str, Any]]:
    """JSON property names are case-insensitive (Json.NET binding): lower → (given, value)."""
    return {str(k).lower(): (str(k), v) for k, v in obj.items()}


# -- value coercion (Json.NET-like) -------------------------------------------------------


def _coerce(kind: str, raw: Any, name: str) -> Any:
    """A JSON value for a field of ``kind``; numbers and booleans may come as strings."""
    if raw is None:
        return None

    def bad() -> _Bad:
        return _Bad(
            f"Error converting value {json.dumps(raw)} to type '{NET_TYPES[kind]}'. Path '{name}'."
        )

    if kind in ("integer", "long"):
        if isinstance(raw, bool):
            raise bad()
        if isinstance(raw, int):
            return raw
        if isinstance(raw, float) and raw.is_integer():
            return int(raw)
        if isinstance(raw, str) and re.fullmatch(r"\s*-?\d+\s*", raw):
            return int(raw)
        raise bad()
    if kind == "double":
        if isinstance(raw, bool):
            raise bad()
        if isinstance(raw, int | float):
            return float(raw)
        if isinstance(raw, str):
            try:
                return float(raw)
            except ValueError:
                raise bad() from None
        raise bad()
    if kind == "boolean":
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and raw.strip().lower() in ("true", "false"):
            return raw.strip().lower() == "true"
        raise bad()
    if kind == "datetime":
        if isinstance(raw, str):
            when = parse_at_time(raw)
            if when is not None:
                return when
        raise bad()
    if isinstance(raw, bool):
        return "True" if raw else "False"
    if isinstance(raw, int | float | str):
        return str(raw)
    raise bad()


def _udf_value(udf: Udf, raw: Any) -> str | None:
    """A UDF value as stored and rendered (a string), validated against its type."""
    if raw is None or raw == "":
        return None
    name = udf.name
    if udf.type == "number":
        number = _coerce("double", raw, name)
        return str(int(number)) if float(number).is_integer() else str(number)
    if udf.type == "datetime":
        return at_time(_coerce("datetime", raw, name))
    text = _coerce("string", raw, name)
    assert isinstance(text, str)
    if udf.type == "list":
        if not any(str(p.value) == text.strip() for p in udf.picklist or ()):
            raise _Bad(f"'{text}' is not a valid value for user-defined field '{name}'.")
        return text.strip()
    if len(text) > udf.length:
        raise _Bad(f"Value of field '{name}' exceeds the maximum length of {udf.length}.")
    return text


# -- filters ------------------------------------------------------------------------------

LEAF_OPS = {
    "eq",
    "noteq",
    "gt",
    "gte",
    "lt",
    "lte",
    "beginswith",
    "endswith",
    "contains",
    "exist",
    "notexist",
    "in",
    "notin",
}
STRING_OPS = {"beginswith", "endswith", "contains"}
ORDER_OPS = {"gt", "gte", "lt", "lte"}
Predicate = Callable[[Record], bool]


@dataclass
class Query:
    predicate: Predicate
    max_records: int
    include: tuple[set[str], set[str]] | None  # (standard fields, UDFs), lower-case


class _Compiler:
    """QueryModel → predicate, with the API's checks (unknown or unqueryable fields,
    operators a type does not support, one UDF per query, at most 500 ``or`` leaves)."""

    def __init__(self, entity: Entity) -> None:
        self.entity = entity
        self.udfs: set[str] = set()
        self.or_leaves = 0

    def compile(self, item: Any, in_or: bool = False) -> Predicate:
        if not isinstance(item, Mapping):
            raise AtError(500, "Each filter must be a JSON object.")
        keys = {k: v for k, (_, v) in _lower_keys(item).items()}
        op_raw = keys.get("op")
        op = str(op_raw or "").lower()
        if not op:
            raise AtError(500, "A filter is missing its operator (op).")
        if op in ("and", "or"):
            items = keys.get("items")
            if not isinstance(items, list) or not items:
                raise AtError(500, f"The '{op}' operator needs a non-empty items array.")
            preds = [self.compile(sub, in_or or op == "or") for sub in items]
            if op == "and":
                return lambda r: all(p(r) for p in preds)
            return lambda r: any(p(r) for p in preds)
        if op not in LEAF_OPS:
            raise AtError(500, f"Unknown filter operator '{op_raw}'.")
        name = keys.get("field")
        if not isinstance(name, str) or not name.strip():
            raise AtError(500, f"The '{op_raw}' filter is missing its field.")
        if in_or:
            self.or_leaves += 1
        try:
            is_udf = _coerce("boolean", keys.get("udf", False), "udf") or False
        except _Bad as exc:
            raise AtError(500, str(exc)) from None
        kind, get, label = self._target(name.strip(), bool(is_udf))
        return self._leaf(op, str(op_raw), kind, get, label, keys.get("value"), "value" in keys)

    def _target(self, name: str, is_udf: bool) -> tuple[str, Callable[[Record], Any], str]:
        entity = self.entity
        if is_udf:
            udf = entity.udfs.get(name.lower())
            if udf is None:
                raise AtError(500, f"Unable to find user-defined field {name} in {entity.name}.")
            key = name.lower()
            self.udfs.add(key)
            kind = udf.kind

            def get_udf(r: Record) -> Any:
                raw = r["_udf"].get(key)
                if raw is None:
                    return None
                return _coerce(kind, raw, udf.name)

            return kind, get_udf, udf.name
        fld = entity.fields.get(name.lower())
        if fld is None:
            raise AtError(500, f"Unable to find {name} in the {entity.name} entity.")
        if not fld.queryable:
            raise AtError(500, f"The field {fld.name} is not queryable.")
        canonical = fld.name
        return fld.type, lambda r: r.get(canonical), fld.name

    @staticmethod
    def _leaf(
        op: str,
        op_raw: str,
        kind: str,
        get: Callable[[Record], Any],
        label: str,
        raw: Any,
        has_value: bool,
    ) -> Predicate:
        if op == "exist":
            return lambda r: get(r) is not None
        if op == "notexist":
            return lambda r: get(r) is None
        if op in STRING_OPS and kind != "string":
            raise AtError(500, f"The operator '{op_raw}' is not supported for {label} ({kind}).")
        if op in ORDER_OPS and kind == "boolean":
            raise AtError(500, f"The operator '{op_raw}' is not supported for {label} ({kind}).")

        def norm(value: Any) -> Any:
            return value.casefold() if isinstance(value, str) else value

        def one(value: Any) -> Any:
            if value is None:
                raise AtError(500, f"The '{op_raw}' filter on {label} needs a value.")
            try:
                return norm(_coerce(kind, value, label))
            except _Bad as exc:
                raise AtError(500, str(exc)) from None

        if op in ("in", "notin"):
            if not isinstance(raw, list) or not raw:
                raise AtError(500, f"The '{op_raw}' filter on {label} needs a non-empty array.")
            wanted = [one(v) for v in raw]
            if op == "in":
                return lambda r: (v := get(r)) is not None and norm(v) in wanted
            return lambda r: (v := get(r)) is not None and norm(v) not in wanted
        if not has_value:
            raise AtError(500, f"The '{op_raw}' filter on {label} needs a value.")
        want = one(raw)
        tests: dict[str, Callable[[Any], bool]] = {
            "eq": lambda v: v == want,
            "noteq": lambda v: v != want,
            "gt": lambda v: v > want,
            "gte": lambda v: v >= want,
            "lt": lambda v: v < want,
            "lte": lambda v: v <= want,
            "beginswith": lambda v: v.startswith(want),
            "endswith": lambda v: v.endswith(want),
            "contains": lambda v: want in v,
        }
        test = tests[op]
        return lambda r: (v := get(r)) is not None and test(norm(v))


# -- the fake -----------------------------------------------------------------------------


def _f(name: str, type_: str, length: int = 0, **kw: Any) -> Field:
    if type_ == "string" and not length:
        length = 50
    return Field(name, type_, length, **kw)


RO: dict[str, Any] = {"read_only": True}


def _ticket_fields() -> list[Field]:
    """TicketModel's properties and types [SW]; lengths, references and read-only flags
    are the fake's choice where the sources are silent."""
    return [
        _f("id", "long", **RO),
        _f("apiVendorID", "integer", **RO),
        _f("assignedResourceID", "integer", reference="Resource"),
        _f("assignedResourceRoleID", "integer", reference="Role"),
        _f("billingCodeID", "integer", reference="BillingCode"),
        _f("changeApprovalBoard", "integer", reference="ChangeApprovalBoard"),
        _f("changeApprovalStatus", "integer"),
        _f("changeApprovalType", "integer"),
        *(_f(f"changeInfoField{i}", "string", 8000) for i in range(1, 6)),
        _f("companyID", "integer", required=True, reference="Company"),
        _f("companyLocationID", "integer", reference="CompanyLocation"),
        _f("completedByResourceID", "integer", reference="Resource", **RO),
        _f("completedDate", "datetime", **RO),
        _f("configurationItemID", "integer", reference="ConfigurationItem"),
        _f("contactID", "integer", reference="Contact"),
        _f("contractID", "integer", reference="Contract"),
        _f("contractServiceBundleID", "long", reference="ContractServiceBundle"),
        _f("contractServiceID", "long", reference="ContractService"),
        _f("createDate", "datetime", **RO),
        _f("createdByContactID", "integer", reference="Contact", **RO),
        _f("creatorResourceID", "integer", reference="Resource", **RO),
        _f("creatorType", "integer", queryable=False, picklist=PERSON_TYPES, **RO),
        _f("currentServiceThermometerRating", "integer", **RO),
        _f("description", "string", 8000),
        _f("dueDateTime", "datetime", required=True),
        _f("estimatedHours", "double"),
        _f("externalID", "string", 50),
        _f("firstResponseAssignedResourceID", "integer", reference="Resource", **RO),
        _f("firstResponseDateTime", "datetime", **RO),
        _f("firstResponseDueDateTime", "datetime", **RO),
        _f("firstResponseInitiatingResourceID", "integer", reference="Resource", **RO),
        _f("hoursToBeScheduled", "double", **RO),
        _f("impersonatorCreatorResourceID", "integer", reference="Resource", **RO),
        _f("isAssignedToComanaged", "boolean", **RO),
        _f("issueType", "integer", picklist=ISSUE_TYPES),
        _f("isVisibleToComanaged", "boolean"),
        _f("lastActivityDate", "datetime", **RO),
        _f("lastActivityPersonType", "integer", queryable=False, picklist=PERSON_TYPES, **RO),
        _f("lastActivityResourceID", "integer", reference="Resource", **RO),
        _f("lastCustomerNotificationDateTime", "datetime", **RO),
        _f("lastCustomerVisibleActivityDateTime", "datetime", **RO),
        _f("lastTrackedModificationDateTime", "datetime", **RO),
        _f("monitorID", "long"),
        _f("monitorTypeID", "integer"),
        _f("opportunityID", "integer", reference="Opportunity"),
        _f("organizationalLevelAssociationID", "integer"),
        _f("previousServiceThermometerRating", "integer", **RO),
        _f("priority", "integer", required=True, picklist=PRIORITIES),
        _f("problemTicketId", "integer", reference="Ticket"),
        _f("projectID", "integer", reference="Project"),
        _f("purchaseOrderNumber", "string", 50),
        _f("queueID", "integer", picklist=QUEUES),
        _f("resolution", "string", 32000),
        _f("resolutionPlanDateTime", "datetime", **RO),
        _f("resolutionPlanDueDateTime", "datetime", **RO),
        _f("resolvedDateTime", "datetime", **RO),
        _f("resolvedDueDateTime", "datetime", **RO),
        _f("rmaStatus", "integer"),
        _f("rmaType", "integer"),
        _f("rmmAlertID", "string", 50),
        _f("serviceLevelAgreementHasBeenMet", "boolean", **RO),
        _f("serviceLevelAgreementID", "integer"),
        _f("serviceLevelAgreementPausedNextEventHours", "double", **RO),
        _f("serviceThermometerTemperature", "integer", **RO),
        _f("source", "integer", picklist=SOURCES),
        _f("status", "integer", required=True, picklist=STATUSES),
        _f("subIssueType", "integer", picklist=SUB_ISSUE_TYPES, parent="issueType"),
        _f("ticketCategory", "integer", picklist=TICKET_CATEGORIES),
        _f("ticketNumber", "string", 50, **RO),
        _f("ticketType", "integer", picklist=TICKET_TYPES),
        _f("title", "string", 255, required=True),
    ]


def _company_fields() -> list[Field]:
    return [
        _f("id", "long", **RO),
        _f("companyName", "string", 100, required=True),
        _f("companyNumber", "string", 50),
        _f("companyType", "integer", required=True, picklist=COMPANY_TYPES),
        _f("createDate", "datetime", **RO),
        _f("isActive", "boolean"),
        _f("lastActivityDate", "datetime", **RO),
        _f("ownerResourceID", "integer", required=True, reference="Resource"),
        _f("phone", "string", 25),
        _f("webAddress", "string", 255),
    ]


def _contact_fields() -> list[Field]:
    return [
        _f("id", "long", **RO),
        _f("companyID", "integer", required=True, reference="Company"),
        _f("createDate", "datetime", **RO),
        _f("emailAddress", "string", 254),
        _f("firstName", "string", 50, required=True),
        _f("isActive", "integer", required=True),  # 1/0, not a boolean
        _f("lastActivityDate", "datetime", **RO),
        _f("lastName", "string", 50, required=True),
        _f("phone", "string", 25),
        _f("title", "string", 50),
    ]


def _resource_fields() -> list[Field]:
    return [
        _f("id", "long", **RO),
        _f("email", "string", 254, required=True),
        _f("firstName", "string", 50, required=True),
        _f("isActive", "boolean", required=True),
        _f("lastName", "string", 50, required=True),
        _f("resourceType", "string", 15, **RO),
        _f("title", "string", 50),
        _f("userName", "string", 32, required=True),
    ]


DEFAULT_UDFS = (
    Udf("Customer Reference", "string", 100, description="The customer's own reference"),
    Udf("Impact Score", "number"),
    Udf("Root Cause", "list", picklist=UDF_ROOT_CAUSES),
    Udf("Follow-up Date", "datetime"),
)


class FakeAutotask(Violations, RetryFakeServer[Fault, RecordedRequest]):
    """A fake Autotask database in one zone. ``async with FakeAutotask() as at`` starts it.

    Defaults (``defaults=True``): API user ``api-user@fakemsp.example`` / ``fake-secret``
    (resource 29682885), integration code ``FAKEINTEGRATIONCODE``; resources 29683794 Ada
    Lovelace (roles 29683396 "IT:Technician I", 29683397 "IT:Technician II"), 29683795
    Grace Hopper (29683396), 29683796 Alan Turing (inactive); companies 0 Fake MSP (the
    owner), 174 Acme Corporation, 175 Globex, 176 Initech (inactive); contacts 30682903
    Wile Coyote and 30682904 Road Runner (Acme), 30682905 Hank Scorpio (Globex), 30682906
    Old Contact (Acme, ``isActive`` 0). No tickets. Ticket picklists: :data:`STATUSES` (1
    New, 5 Complete, 7 Waiting Customer, 8 In Progress, ... 19 inactive), :data:`PRIORITIES`
    (4 Critical, 1 High, 2 Medium, 3 Low, 5 Planning inactive), :data:`QUEUES`,
    :data:`ISSUE_TYPES` / :data:`SUB_ISSUE_TYPES` (children carry ``parentValue``),
    :data:`TICKET_CATEGORIES` (2 Standard is the default), :data:`TICKET_TYPES`,
    :data:`SOURCES`. Ticket UDFs: "Customer Reference" (string), "Impact Score" (number),
    "Root Cause" (list 1/2/3), "Follow-up Date" (datetime). All of these are the fake's
    choice: real values and labels are tenant-specific (only 1 = New and 5 = Complete are
    commonly reported).

    Conventions where the sources are silent (check a plugin against these):

    - URLs: :attr:`url` is the zone's REST base as configured (``.../atservicesrest``);
      paths match case-insensitively, with or without a trailing slash. URLs the fake
      generates (next/previous pages, ZoneInformation's ``url``) use
      ``/ATServicesRest/V1.0/``. Unknown paths → 404, wrong methods → 405 and a non-JSON
      body → 415, each as ASP.NET Web API answers (``{"Message": ...}``); a body that is
      not valid JSON → 400 ``{"errors": [...]}``.
    - Auth: every path but ZoneInformation needs a known ``UserName`` with its ``Secret``
      and a known ``ApiIntegrationCode``; anything else → 401 with an empty body (reports
      of 500 for an unknown user or integration code conflict, so not imitated).
      ``ImpersonationResourceId`` (an active resource) becomes the actor of writes; an
      unknown or inactive one → 500.
    - ZoneInformation answers without credentials: a known API user → ``{zoneName, url,
      webUrl, ci}`` (``url`` = :attr:`zone_url`, trailing slash, no version); an unknown
      or missing ``user`` → 500 ``{"errors": [...]}``.
    - Writes: JSON property names (also in ``userDefinedFields``) are case-insensitive;
      numbers and booleans may come as strings (``"4"``, ``"True"``), as Json.NET converts
      them; anything else that does not convert → 500 with Json.NET's wording. Unknown
      properties and read-only fields are dropped and noted in :attr:`ignored` (also a
      non-zero ``id`` on POST). Empty strings are stored as null. Strings longer than the
      field (title 255, description 8000, ...) → 500. Every problem of one request is
      listed in the one ``errors`` array (a value that does not convert is reported once,
      not also as a missing required field).
    - Ticket rules: companyID, dueDateTime, priority, status and title are required (on
      POST, and after PUT nulls the omitted fields); picklist values must exist and be
      active (checked for the fields a request writes); subIssueType must be a child of
      the ticket's issueType; the company must exist and be active; the contact must exist
      and belong to the ticket's company; assignedResourceID and assignedResourceRoleID
      go together (Autotask's own message), the resource must be active and hold the role.
      Other references (contract, project, ...) are not checked. On create: ticketCategory
      defaults to the category marked default, ticketType to 1 (Service Request), the
      booleans to false, estimatedHours/hoursToBeScheduled to 0; ticketNumber is
      ``T<yyyymmdd>.<nnnn>`` (per day); createDate, creatorResourceID (the actor) and
      creatorType 1 are set. Ids are 1001, 1002, ... Entering status 5 (Complete) sets
      completedDate and completedByResourceID; leaving it clears both. Every write sets
      lastActivityDate, lastActivityResourceID, lastActivityPersonType 1 and
      lastTrackedModificationDateTime.
    - PATCH needs ``id``; a missing, unknown or hidden ticket → 500. PATCH changes only
      the fields (and UDFs) given, null clears; PUT nulls every writable field and UDF it
      does not carry. Unknown UDF names, or values not of the UDF's type → 500.
    - Reads: every TicketModel field is present (null when unset) plus
      ``userDefinedFields`` (every UDF, ``value`` a string or null). Date-times are UTC
      with ``Z``, milliseconds with trailing zeros dropped (:func:`at_time`). Inputs
      without an offset are UTC. Tickets in :attr:`Entity.hidden` do not exist for the
      API user (GET → ``{"item": null}``, queries skip them).
    - Queries: ``filter`` must be a non-empty array (``{"op": "exist", "field": "id"}``
      for "all"); ``MaxRecords`` 1..500 (default 500; outside → HTTP 500);
      ``IncludeFields`` limits the standard fields (and ``userDefinedFields``) to those
      named (``id`` only when named); unknown top-level keys are ignored and noted. Field
      names, operator names and keys are case-insensitive. Unknown fields, unqueryable
      fields, ``beginsWith``/``endsWith``/``contains`` on a non-string, ``gt``... on a
      boolean, a missing value, a value that does not convert, ``in``/``notIn`` without a
      non-empty array, more than one UDF, more than 500 leaves under ``or`` → 500
      ``{"errors": [...]}``. String comparisons ignore case (SQL Server's collation).
      Null never matches a comparison: ``noteq``/``notIn`` skip records without a value
      (only ``notExist`` finds them).
    - Paging: items sorted by id; a first page holds ``MaxRecords`` items, later ones the
      ``pageSize`` of their ``paging`` parameter. ``pageDetails.count``
      is the page's item count, ``requestCount`` the page size asked for. ``nextPageUrl``
      = ``<api_url><Entity>/query/next?paging={"pageSize":n,"previousIds":[...],
      "nextIds":[<first id of the next page>]}``, plus ``&search=<the original search>``
      when the query came as GET; a POST query's next page must be POSTed with the same
      body (a GET without ``search`` → 405, as reported). ``prevPageUrl`` likewise from
      page 2 on. Paging is keyset on id, so records added or removed between pages neither
      repeat nor shift others.
    - Limits: the request threshold (:meth:`set_threshold`, default 10,000 per 3,600 s)
      counts every authenticated request that is not refused; over it → ``blocked_status``
      (default 429; the real status is unconfirmed) with ``{"errors": [...]}`` and no
      Retry-After unless configured; at 50%/75% usage ``latency`` seconds are added (0 by
      default; Autotask's are about 0.5 s and 1 s). The thread limit (default 3) counts
      requests in flight per integration code and first path segment (``tickets``,
      ``thresholdinformation``, ...), ZoneInformation exempt; over it → 429. To make
      requests overlap in a test, set :attr:`handler_delay` (every request holds its
      thread that long) or ``fail_next(delay=...)``.
    - Companies, Contacts and Resources are read-only here (GET, query, metadata; writes
      → 405), without UDFs. Contacts' ``isActive`` is an integer (1/0).
    - ``fail_next``: ``path`` is a case-insensitive prefix, full
      (``/atservicesrest/v1.0/Tickets``) or relative to the version (``/Tickets/query``).
      ``status`` answers 401 with an empty body, others ``{"errors": [...]}``;
      ``retry_after`` adds ``Retry-After`` (Autotask documents none). A ``delay`` alone
      holds the request's thread while it sleeps.
    """

    fault_type = Fault
    record_type = RecordedRequest
    malformed_body = '{"items": [{"id": '
    violations_are = "value(s) the real Autotask would drop"

    def __init__(
        self,
        *,
        defaults: bool = True,
        udfs: Iterable[Udf] = DEFAULT_UDFS,
        thread_limit: int = 3,
        threshold: int = 10_000,
        threshold_window: float = 3600.0,
        clock: Callable[[], datetime] | None = None,
        host: str = "127.0.0.1",
        zone_name: str = "Fake Zone",
    ) -> None:
        super().__init__(host)
        self.zone_name = zone_name
        self._clock: Callable[[], datetime] = clock or (lambda: datetime.now(UTC))
        self._skew = timedelta()

        self.entities: dict[str, Entity] = {
            e.path.lower(): e
            for e in (
                Entity("Tickets", "Ticket", self._fields(_ticket_fields()), writable=True),
                Entity("Companies", "Company", self._fields(_company_fields())),
                Entity("Contacts", "Contact", self._fields(_contact_fields())),
                Entity("Resources", "Resource", self._fields(_resource_fields())),
            )
        }
        for udf in udfs:
            self.tickets.udfs[udf.name.lower()] = udf
        self.api_users: dict[str, ApiUser] = {}  # by lower-case username
        self.integration_codes: set[str] = set()
        self.roles: dict[int, str] = {}
        self.resource_roles: dict[int, set[int]] = {}

        self.ignored: list[Ignored] = []

        self.thread_limit = thread_limit
        self.threshold = threshold
        self.threshold_window = threshold_window
        self.blocked_status = 429
        self.blocked_retry_after: float | None = None
        self.latency: tuple[float, float] = (0.0, 0.0)
        self.handler_delay = 0.0  # seconds every API request takes (holds its thread)
        self._usage: deque[datetime] = deque()
        self._threads: dict[tuple[str, str], int] = {}

        self._ids = itertools.count(1001)
        self._numbers: dict[str, int] = {}
        if defaults:
            self._seed_defaults()

        self.app = web.Application(client_max_size=16 * 1024**2)
        self.app.router.add_route("*", "/{tail:.*}", self._handle)

    @staticmethod
    def _fields(fields: Iterable[Field]) -> dict[str, Field]:
        return {f.name.lower(): f for f in fields}

    def _seed_defaults(self) -> None:
        self.integration_codes.add("FAKEINTEGRATIONCODE")
        self.add_role(29683396, "IT:Technician I")
        self.add_role(29683397, "IT:Technician II")
        self.add_role(29683398, "IT:Manager")
        self.add_resource(
            "API", "User", "api-user@fakemsp.example", resource_id=29682885, title="API user"
        )
        self.add_api_user("api-user@fakemsp.example", "fake-secret", resource_id=29682885)
        self.add_resource(
            "Ada",
            "Lovelace",
            "ada@fakemsp.example",
            resource_id=29683794,
            roles=(29683396, 29683397),
        )
        self.add_resource(
            "Grace", "Hopper", "grace@fakemsp.example", resource_id=29683795, roles=(29683396,)
        )
        self.add_resource(
            "Alan",
            "Turing",
            "alan@fakemsp.example",
            resource_id=29683796,
            roles=(29683396,),
            active=False,
        )
        self.add_company("Fake MSP", company_id=0, company_type=8)
        self.add_company("Acme Corporation", company_id=174, number="ACME")
        self.add_company("Globex", company_id=175, number="GLOBEX")
        self.add_company("Initech", company_id=176, number="INITECH", active=False)
        self.add_contact(174, "Wile", "Coyote", "wile@acme.example", contact_id=30682903)
        self.add_contact(174, "Road", "Runner", "beep@acme.example", contact_id=30682904)
        self.add_contact(175, "Hank", "Scorpio", "hank@globex.example", contact_id=30682905)
        self.add_contact(
            174, "Old", "Contact", "old@acme.example", contact_id=30682906, active=False
        )

    # -- setup API ------------------------------------------------------------------------

    @property
    def tickets(self) -> Entity:
        return self.entities["tickets"]

    def entity(self, path: str) -> Entity:
        return self.entities[path.lower()]

    def add_api_user(self, username: str, secret: str, *, resource_id: int) -> ApiUser:
        user = ApiUser(username, secret, resource_id)
        self.api_users[username.lower()] = user
        return user

    def add_role(self, role_id: int, name: str) -> None:
        self.roles[role_id] = name

    def add_resource(
        self,
        first: str,
        last: str,
        email: str,
        *,
        resource_id: int,
        user_name: str | None = None,
        roles: Iterable[int] = (),
        active: bool = True,
        title: str | None = None,
    ) -> Record:
        record = self._blank(self.entity("Resources"), resource_id)
        record.update(
            firstName=first,
            lastName=last,
            email=email,
            userName=user_name or email.split("@")[0],
            isActive=active,
            resourceType="Employee",
            title=title,
        )
        self.resource_roles[resource_id] = set(roles)
        return record

    def add_company(
        self,
        name: str,
        *,
        company_id: int,
        company_type: int = 1,
        number: str | None = None,
        active: bool = True,
    ) -> Record:
        record = self._blank(self.entity("Companies"), company_id)
        record.update(
            companyName=name,
            companyNumber=number,
            companyType=company_type,
            isActive=active,
            ownerResourceID=29682885,
            createDate=_ms(self.now() - timedelta(days=365)),
        )
        return record

    def add_contact(
        self,
        company_id: int,
        first: str,
        last: str,
        email: str,
        *,
        contact_id: int,
        active: bool = True,
    ) -> Record:
        record = self._blank(self.entity("Contacts"), contact_id)
        record.update(
            companyID=company_id,
            firstName=first,
            lastName=last,
            emailAddress=email,
            isActive=1 if active else 0,
            createDate=_ms(self.now() - timedelta(days=100)),
        )
        return record

    def set_picklist(self, field_name: str, values: Sequence[Pick]) -> None:
        """Replace a Ticket field's picklist (for example a tenant's own statuses)."""
        self.tickets.fields[field_name.lower()].picklist = tuple(values)

    def add_udf(self, udf: Udf) -> None:
        self.tickets.udfs[udf.name.lower()] = udf
        for record in self.tickets.records.values():
            record["_udf"].setdefault(udf.name.lower(), None)

    def headers(
        self, username: str = "api-user@fakemsp.example", code: str = "FAKEINTEGRATIONCODE"
    ) -> dict[str, str]:
        """The auth headers of an API user, for direct calls."""
        user = self.api_users[username.lower()]
        return {"ApiIntegrationCode": code, "UserName": user.username, "Secret": user.secret}

    def set_threshold(
        self,
        limit: int,
        *,
        window: float = 3600.0,
        status: int = 429,
        retry_after: float | None = None,
        latency: tuple[float, float] = (0.0, 0.0),
    ) -> None:
        """The database's request threshold: ``limit`` requests per ``window`` seconds
        (rolling); ``latency`` seconds added from 50% and from 75% of it."""
        self.threshold = limit
        self.threshold_window = window
        self.blocked_status = status
        self.blocked_retry_after = retry_after
        self.latency = latency
        self._usage.clear()

    @staticmethod
    def _path_matches(path: str, prefix: str) -> bool:
        """``calls(path=...)`` takes prefixes as ``fail_next`` does."""
        return _path_matches(path, prefix)

    def _problems(self) -> list[Ignored]:
        """``assert_no_violations`` fails when a request carried something the real API
        drops silently."""
        return self.ignored

    def seed_ticket(
        self, *, created: datetime | None = None, hidden: bool = False, **fields: Any
    ) -> Record:
        """Create a ticket without HTTP, through the rules of ``POST /Tickets`` (values as
        JSON would carry them; defaults fill companyID 174, status 1, priority 2, a title
        and a due date). ``created`` backdates it. Returns the ticket as the API renders it."""
        body: dict[str, Any] = {
            "companyID": 174,
            "status": 1,
            "priority": 2,
            "title": "Seeded ticket",
            "dueDateTime": at_time(self.now() + timedelta(days=7)),
        }
        body.update(fields)
        actor = next((u.resource_id for u in self.api_users.values()), 0)
        record = self._write(self.tickets, body, actor, None, False, created)
        if hidden:
            self.tickets.hidden.add(record["id"])
        return self.render(self.tickets, record)

    def ticket(self, ticket_id: int) -> Record:
        """A ticket as the API renders it (hidden ones too)."""
        return self.render(self.tickets, self.tickets.records[ticket_id])

    def advance(self, seconds: float) -> None:
        self._skew += timedelta(seconds=seconds)

    def now(self) -> datetime:
        return _ms(self._clock() + self._skew)

    # -- lifecycle ------------------------------------------------------------------------

    @property
    def root(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def url(self) -> str:
        """The zone's REST base as an integration is configured with it."""
        return f"{self.root}/atservicesrest"

    @property
    def zone_url(self) -> str:
        """What ZoneInformation answers as ``url``."""
        return f"{self.root}/ATServicesRest/"

    @property
    def api_url(self) -> str:
        """The versioned base the fake's own URLs use."""
        return f"{self.root}/ATServicesRest/V1.0/"

    # -- records --------------------------------------------------------------------------

    @staticmethod
    def _blank(entity: Entity, item_id: int) -> Record:
        record: Record = {f.name: None for f in entity.fields.values()}
        record["id"] = item_id
        record["_udf"] = {key: None for key in entity.udfs}
        entity.records[item_id] = record
        return record

    def render(self, entity: Entity, record: Record, include: Query | None = None) -> Record:
        """A record as JSON: every field in order, then ``userDefinedFields``."""
        fields, udfs = include.include if include and include.include else (None, None)
        out: Record = {}
        for f in entity.fields.values():
            if fields is not None and f.name.lower() not in fields:
                continue
            value = record.get(f.name)
            out[f.name] = at_time(value) if isinstance(value, datetime) else value
        out["userDefinedFields"] = [
            {"name": udf.name, "value": record["_udf"].get(key)}
            for key, udf in entity.udfs.items()
            if udfs is None or key in udfs
        ]
        return out

    def _ignore(self, where: str, entity: Entity, name: str, reason: str) -> None:
        self.ignored.append(Ignored(where, entity.name, name, reason))

    def _next_number(self, when: datetime) -> str:
        day = when.strftime("%Y%m%d")
        self._numbers[day] = self._numbers.get(day, 0) + 1
        return f"T{day}.{self._numbers[day]:04d}"

    def _write(
        self,
        entity: Entity,
        body: Mapping[str, Any],
        actor: int,
        existing: Record | None,
        full: bool,
        created: datetime | None = None,
    ) -> Record:
        """Create (``existing`` None) or update a ticket; raises AtError(500, ...)."""
        when = _ms(created) if created else self.now()
        keys = _lower_keys(body)
        errors: list[str] = []
        new: Record = dict(existing) if existing else {f.name: None for f in entity.fields.values()}
        udf_new: dict[str, Any] = dict(existing["_udf"]) if existing else {}
        if existing is None or full:
            for key in entity.udfs:
                udf_new[key] = None
        if full and existing is not None:
            for f in entity.fields.values():
                if not f.read_only and f.name.lower() not in keys:
                    new[f.name] = None
        written: set[str] = set()
        unconverted: set[str] = set()  # reported once: not also as missing
        for key, (given, raw) in keys.items():
            if key == "id":
                if existing is None and raw not in (None, 0, "0"):
                    self._ignore("body", entity, given, "id is assigned by Autotask")
                continue
            if key == "userdefinedfields":
                self._write_udfs(entity, raw, udf_new, errors)
                continue
            fld = entity.fields.get(key)
            if fld is None:
                self._ignore("body", entity, given, "unknown field")
                continue
            if fld.read_only:
                self._ignore("body", entity, fld.name, "read-only")
                continue
            try:
                value = _coerce(fld.type, raw, fld.name)
            except _Bad as exc:
                errors.append(str(exc))
                unconverted.add(fld.name)
                continue
            if isinstance(value, str):
                if value == "":
                    value = None
                elif len(value) > fld.length:
                    errors.append(
                        f"Value of field '{fld.name}' exceeds the maximum length of {fld.length}."
                    )
                    continue
            new[fld.name] = value
            written.add(fld.name)
        if existing is None:
            for name, value in self._create_defaults().items():
                if new.get(name) is None:
                    new[name] = value
                    written.add(name)
        self._validate(entity, new, written, unconverted, udf_new, errors)
        if errors:
            raise AtError(500, *errors)
        self._derive(new, existing, actor, when)
        new["_udf"] = udf_new
        entity.records[new["id"]] = new
        return new

    def _create_defaults(self) -> dict[str, Any]:
        category = next((p.value for p in self._picks("ticketCategory") if p.default), None)
        return {
            "ticketCategory": category,
            "ticketType": 1,
            "isAssignedToComanaged": False,
            "isVisibleToComanaged": False,
            "estimatedHours": 0.0,
            "hoursToBeScheduled": 0.0,
        }

    def _picks(self, name: str) -> tuple[Pick, ...]:
        return self.tickets.fields[name.lower()].picklist or ()

    def _write_udfs(
        self, entity: Entity, raw: Any, udf_new: dict[str, Any], errors: list[str]
    ) -> None:
        if raw is None:
            return
        if not isinstance(raw, list):
            errors.append("userDefinedFields must be an array of {name, value}.")
            return
        for item in raw:
            if not isinstance(item, Mapping):
                errors.append("userDefinedFields must be an array of {name, value}.")
                continue
            keys = {k: v for k, (_, v) in _lower_keys(item).items()}
            name = str(keys.get("name") or "")
            udf = entity.udfs.get(name.lower())
            if udf is None:
                errors.append(f"User-defined field '{name}' does not exist.")
                continue
            try:
                udf_new[name.lower()] = _udf_value(udf, keys.get("value"))
            except _Bad as exc:
                errors.append(str(exc))

    def _validate(
        self,
        entity: Entity,
        new: Record,
        written: set[str],
        unconverted: set[str],
        udfs: dict[str, Any],
        errors: list[str],
    ) -> None:
        for f in entity.fields.values():
            missing = new.get(f.name) is None and f.name not in unconverted
            if f.required and not f.read_only and missing:
                errors.append(f"Required field '{f.name}' is missing.")
        for key, udf in entity.udfs.items():
            if udf.required and udfs.get(key) is None:
                errors.append(f"Required user-defined field '{udf.name}' is missing.")
        for name in sorted(written):
            f = entity.fields[name.lower()]
            value = new.get(name)
            if f.picklist is None or value is None:
                continue
            pick = f.pick(value)
            if pick is None:
                errors.append(f"'{value}' is not a valid value for picklist field '{f.name}'.")
            elif not pick.active:
                errors.append(
                    f"'{value}' ({pick.label}) is an inactive value of picklist field '{f.name}'."
                )
        sub, issue = new.get("subIssueType"), new.get("issueType")
        if sub is not None and {"subIssueType", "issueType"} & written:
            pick = self.tickets.fields["subissuetype"].pick(sub)
            if pick is not None and pick.parent != issue:
                errors.append(f"subIssueType {sub} is not a child of issueType {issue}.")
        self._validate_references(new, written, errors)

    def _validate_references(self, new: Record, written: set[str], errors: list[str]) -> None:
        company_id, contact_id = new.get("companyID"), new.get("contactID")
        if "companyID" in written and company_id is not None:
            company = self.entity("Companies").records.get(company_id)
            if company is None:
                errors.append(f"Company with id {company_id} was not found.")
            elif not company["isActive"]:
                errors.append(f"Company {company_id} is inactive.")
        if contact_id is not None and {"contactID", "companyID"} & written:
            contact = self.entity("Contacts").records.get(contact_id)
            if contact is None:
                errors.append(f"Contact with id {contact_id} was not found.")
            elif contact["companyID"] != company_id:
                errors.append(f"Contact {contact_id} does not belong to company {company_id}.")
        resource_id, role_id = new.get("assignedResourceID"), new.get("assignedResourceRoleID")
        if {"assignedResourceID", "assignedResourceRoleID"} & written:
            if (resource_id is None) != (role_id is None):
                errors.append(ASSIGN_BOTH)
            elif resource_id is not None:
                resource = self.entity("Resources").records.get(resource_id)
                if resource is None or not resource["isActive"]:
                    errors.append(f"Resource with id {resource_id} was not found or is inactive.")
                elif role_id not in self.resource_roles.get(resource_id, set()):
                    errors.append(f"Resource {resource_id} does not have role {role_id}.")

    def _derive(self, new: Record, existing: Record | None, actor: int, when: datetime) -> None:
        if existing is None:
            new["id"] = next(self._ids)
            new["createDate"] = when
            new["creatorResourceID"] = actor
            new["creatorType"] = PERSON_RESOURCE
            new["ticketNumber"] = self._next_number(when)
        was_complete = existing is not None and existing.get("status") == COMPLETE
        if new.get("status") == COMPLETE and not was_complete:
            new["completedDate"] = when
            new["completedByResourceID"] = actor
        elif new.get("status") != COMPLETE and was_complete:
            new["completedDate"] = None
            new["completedByResourceID"] = None
        new["lastActivityDate"] = when
        new["lastActivityResourceID"] = actor
        new["lastActivityPersonType"] = PERSON_RESOURCE
        new["lastTrackedModificationDateTime"] = when

    # -- queries --------------------------------------------------------------------------

    def _parse_query(self, entity: Entity, raw: Any) -> Query:
        if not isinstance(raw, Mapping):
            raise AtError(500, "The query must be a JSON object.")
        keys = _lower_keys(raw)
        for key, (given, _) in keys.items():
            if key not in ("filter", "maxrecords", "includefields"):
                self._ignore("query", entity, given, "unknown query property")
        filters = keys.get("filter", ("", None))[1]
        if not isinstance(filters, list) or not filters:
            raise AtError(500, "A query needs a non-empty filter array.")
        max_raw = keys.get("maxrecords", ("", None))[1]
        try:
            max_records = (
                MAX_RECORDS if max_raw is None else _coerce("integer", max_raw, "MaxRecords")
            )
        except _Bad as exc:
            raise AtError(500, str(exc)) from None
        if not 1 <= max_records <= MAX_RECORDS:
            raise AtError(500, f"MaxRecords must be between 1 and {MAX_RECORDS}.")
        include = self._include(entity, keys.get("includefields", ("", None))[1])
        compiler = _Compiler(entity)
        preds = [compiler.compile(item) for item in filters]
        if len(compiler.udfs) > 1:
            raise AtError(500, "Only one user-defined field may be queried at a time.")
        if compiler.or_leaves > 500:
            raise AtError(
                500,
                "Invalid query syntax. Queries are limited to 500 or fewer 'OR' conditions.",
            )
        return Query(lambda r: all(p(r) for p in preds), max_records, include)

    @staticmethod
    def _include(entity: Entity, raw: Any) -> tuple[set[str], set[str]] | None:
        if raw is None or raw == []:
            return None
        if not isinstance(raw, list) or not all(isinstance(n, str) for n in raw):
            raise AtError(500, "IncludeFields must be an array of field names.")
        fields: set[str] = set()
        udfs: set[str] = set()
        for name in raw:
            key = name.strip().lower()
            if key in entity.fields:
                fields.add(key)
            elif key in entity.udfs:
                udfs.add(key)
            else:
                raise AtError(500, f"Unable to find {name} in the {entity.name} entity.")
        return fields, udfs

    def _matches(self, entity: Entity, query: Query) -> list[int]:
        return sorted(
            i for i, r in entity.records.items() if i not in entity.hidden and query.predicate(r)
        )

    def _page(
        self,
        entity: Entity,
        query: Query,
        paging: dict[str, Any] | None,
        search: str | None,
    ) -> Record:
        size = paging["pageSize"] if paging else query.max_records
        start = paging["nextIds"][0] if paging else -1
        previous: list[int] = list(paging["previousIds"]) if paging else []
        matches = [i for i in self._matches(entity, query) if i >= start]
        page, rest = matches[:size], matches[size:]
        next_url = prev_url = None
        if rest:
            next_url = self._page_url(entity, size, [*previous, start], rest[0], search)
        if previous:
            prev_url = self._page_url(entity, size, previous[:-1], previous[-1], search)
        return {
            "items": [self.render(entity, entity.records[i], query) for i in page],
            "pageDetails": {
                "count": len(page),
                "requestCount": size,
                "prevPageUrl": prev_url,
                "nextPageUrl": next_url,
            },
        }

    def _page_url(
        self, entity: Entity, size: int, previous: list[int], start: int, search: str | None
    ) -> str:
        paging = json.dumps(
            {"pageSize": size, "previousIds": previous, "nextIds": [start]},
            separators=(",", ":"),
        )
        url = f"{self.api_url}{entity.path}/query/next?paging={_net_quote(paging)}"
        if search is not None:
            url += f"&search={_net_quote(search)}"
        return url

    @staticmethod
    def _paging(raw: str | None) -> dict[str, Any]:
        try:
            paging = json.loads(raw or "")
            size = paging["pageSize"]
            previous = paging["previousIds"]
            nxt = paging["nextIds"]
            valid = (
                isinstance(size, int)
                and 1 <= size <= MAX_RECORDS
                and isinstance(previous, list)
                and all(isinstance(i, int) for i in previous)
                and isinstance(nxt, list)
                and len(nxt) >= 1
                and all(isinstance(i, int) for i in nxt)
            )
        except (ValueError, TypeError, KeyError):
            valid = False
        if not valid:
            raise AtError(400, "The paging parameter is not valid.")
        return dict(paging)

    # -- HTTP -----------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read() if request.body_exists else b""
        record = self._record(request)
        record.body = raw
        if raw:
            try:
                record.json = json.loads(raw)
            except ValueError:
                record.json = None
        response = await self._answer(request, record, raw)
        record.status = response.status
        return response

    async def _answer(
        self, request: web.Request, record: RecordedRequest, raw: bytes
    ) -> web.StreamResponse:
        fault = self._take_fault(request.method, request.path)
        hold = 0.0
        if fault is not None:
            if fault.reset or fault.status is not None or fault.malformed:
                return await self._serve_fault(request, fault)
            hold = fault.delay  # a delay alone is slept holding the request's thread
        try:
            route, entity, item_id = self._route(request)
            if route == "zone":
                return self._zone(request)
            user = self._authenticate(request)
            if user is None:
                return web.Response(status=401)
            record.user = user.username
            segment = _rel(request.path).strip("/").split("/")[0]
            key = (request.headers.get("ApiIntegrationCode", "").lower(), segment)
            if self.thread_limit and self._threads.get(key, 0) >= self.thread_limit:
                return _errors(
                    429, f"API thread threshold of {self.thread_limit} threads has been exceeded."
                )
            self._threads[key] = self._threads.get(key, 0) + 1
            try:
                if hold or self.handler_delay:
                    await asyncio.sleep(hold + self.handler_delay)
                blocked = await self._threshold_gate()
                if blocked is not None:
                    return blocked
                return self._dispatch(request, route, entity, item_id, user, raw)
            finally:
                self._threads[key] -= 1
        except AtError as exc:
            return _errors(exc.status, *exc.errors)
        except _AspNet as exc:
            return _json({"Message": exc.message}, exc.status)

    def _route(self, request: web.Request) -> tuple[str, Entity | None, int | None]:
        method = request.method
        parts = [p.lower() for p in request.path.split("/") if p]
        not_found = _AspNet(
            404, f"No HTTP resource was found that matches the request URI '{request.url}'."
        )
        if len(parts) < 3 or parts[0] != "atservicesrest" or parts[1] != "v1.0":
            raise not_found
        head, tail = parts[2], parts[3:]
        allowed: tuple[str, ...]
        entity: Entity | None = None
        item_id: int | None = None
        if head in ("zoneinformation", "thresholdinformation") and not tail:
            route, allowed = ("zone" if head == "zoneinformation" else "threshold"), ("GET",)
        else:
            entity = self.entities.get(head)
            if entity is None:
                raise not_found
            if not tail:
                route = "entity"
                allowed = ("POST", "PATCH", "PUT") if entity.writable else ()
            elif tail in (["query"], ["query", "count"], ["query", "next"]):
                route, allowed = "/".join(tail), ("GET", "POST")
            elif tail in (
                ["entityinformation"],
                ["entityinformation", "fields"],
                ["entityinformation", "userdefinedfields"],
            ):
                route, allowed = "/".join(tail), ("GET",)
            elif len(tail) == 1 and re.fullmatch(r"\d+", tail[0]):
                route, allowed, item_id = "item", ("GET",), int(tail[0])
            else:
                raise not_found
        if method not in allowed:
            raise _AspNet(405, f"The requested resource does not support http method '{method}'.")
        return route, entity, item_id

    def _authenticate(self, request: web.Request) -> ApiUser | None:
        user = self.api_users.get(request.headers.get("UserName", "").lower())
        code = request.headers.get("ApiIntegrationCode", "")
        if user is None or request.headers.get("Secret") != user.secret:
            return None
        if code.lower() not in {c.lower() for c in self.integration_codes}:
            return None
        return user

    async def _threshold_gate(self) -> web.Response | None:
        now = self.now()
        cutoff = now - timedelta(seconds=self.threshold_window)
        while self._usage and self._usage[0] <= cutoff:
            self._usage.popleft()
        used = len(self._usage)
        if used >= self.threshold:
            headers: dict[str, str] = {}
            if self.blocked_retry_after is not None:
                headers["Retry-After"] = str(math.ceil(self.blocked_retry_after))
            minutes = round(self.threshold_window / 60)
            return _errors(
                self.blocked_status,
                f"API request threshold of {self.threshold} requests per {minutes} minutes "
                "has been exceeded.",
                headers=headers,
            )
        self._usage.append(now)
        slow = self.latency[1] if used >= 0.75 * self.threshold else 0.0
        if not slow and used >= 0.5 * self.threshold:
            slow = self.latency[0]
        if slow:
            await asyncio.sleep(slow)
        return None

    def _malformed_response(
        self, fault: Fault, status: int, headers: dict[str, str]
    ) -> web.Response:
        self._fault_headers(fault, status, headers)  # Retry-After on a malformed answer too
        return super()._malformed_response(fault, status, headers)

    def _fault_headers(self, fault: Fault, status: int, headers: dict[str, str]) -> None:
        if fault.retry_after is not None:
            headers.setdefault("Retry-After", seconds(fault.retry_after))

    def _fault_error(self, status: int, headers: dict[str, str]) -> web.Response:
        if status == 401:
            return web.Response(status=401, headers=headers)
        minutes = round(self.threshold_window / 60)
        message = {
            429: f"API request threshold of {self.threshold} requests per {minutes} minutes "
            "has been exceeded.",
            500: "An unexpected error occurred.",
            503: "Service Unavailable",
        }.get(status, f"Injected fault {status}")
        return _errors(status, message, headers=headers)

    def _body(self, request: web.Request, raw: bytes) -> Any:
        if not raw:
            return None
        if request.content_type not in ("application/json", "text/json"):
            raise _AspNet(
                415,
                f"The request entity's media type '{request.content_type}' is not supported "
                "for this resource.",
            )
        try:
            return json.loads(raw)
        except ValueError:
            raise AtError(400, "The request body is not valid JSON.") from None

    def _actor(self, request: web.Request, user: ApiUser) -> int:
        raw = request.headers.get("ImpersonationResourceId")
        if raw is None or raw.strip() == "":
            return user.resource_id
        resource = self.entity("Resources").records.get(int(raw)) if raw.strip().isdigit() else None
        if resource is None or not resource["isActive"]:
            raise AtError(500, f"ImpersonationResourceId {raw} is not an active resource.")
        return int(raw)

    def _dispatch(
        self,
        request: web.Request,
        route: str,
        entity: Entity | None,
        item_id: int | None,
        user: ApiUser,
        raw: bytes,
    ) -> web.Response:
        if route == "threshold":
            return self._threshold_info()
        assert entity is not None
        if route == "item":
            assert item_id is not None
            record = entity.visible(item_id)
            return _json({"item": None if record is None else self.render(entity, record)})
        if route == "entityinformation":
            return _json({"info": self._info(entity)})
        if route == "entityinformation/fields":
            return _json({"fields": [f.json() for f in entity.fields.values()]})
        if route == "entityinformation/userdefinedfields":
            return _json({"fields": [u.json() for u in entity.udfs.values()]})
        if route == "entity":
            return self._write_route(request, entity, user, raw)
        return self._query_route(request, route, entity, raw)

    def _write_route(
        self, request: web.Request, entity: Entity, user: ApiUser, raw: bytes
    ) -> web.Response:
        body = self._body(request, raw)
        if not isinstance(body, Mapping):
            raise AtError(500, f"The request body must be a {entity.name} object.")
        actor = self._actor(request, user)
        if request.method == "POST":
            record = self._write(entity, body, actor, None, False)
            return _json({"itemId": record["id"]})
        keys = _lower_keys(body)
        try:
            item_id = _coerce("long", keys.get("id", ("id", None))[1], "id")
        except _Bad as exc:
            raise AtError(500, str(exc)) from None
        if item_id is None:
            raise AtError(500, f"An update needs the {entity.name}'s id.")
        existing = entity.visible(item_id)
        if existing is None:
            raise AtError(500, f"{entity.name} with id {item_id} was not found.")
        record = self._write(entity, body, actor, existing, request.method == "PUT")
        return _json({"itemId": record["id"]})

    def _query_route(
        self, request: web.Request, route: str, entity: Entity, raw: bytes
    ) -> web.Response:
        search: str | None = None
        if request.method == "GET":
            search = request.query.get("search")
            if search is None:
                if route == "query/next":
                    raise _AspNet(405, "The requested resource does not support http method 'GET'.")
                raise AtError(400, "The search parameter is required.")
            try:
                model = json.loads(search)
            except ValueError:
                raise AtError(400, "The search parameter is not valid JSON.") from None
        else:
            model = self._body(request, raw)
        query = self._parse_query(entity, model)
        if route == "query/count":
            return _json({"queryCount": len(self._matches(entity, query))})
        paging = self._paging(request.query.get("paging")) if route == "query/next" else None
        return _json(self._page(entity, query, paging, search))

    def _info(self, entity: Entity) -> Record:
        return {
            "name": entity.name,
            "canCreate": entity.writable,
            "canDelete": False,
            "canQuery": True,
            "canUpdate": entity.writable,
            "userAccessForCreate": "All" if entity.writable else "None",
            "userAccessForDelete": "None",
            "userAccessForQuery": "All",
            "userAccessForUpdate": "All" if entity.writable else "None",
            "hasUserDefinedFields": bool(entity.udfs),
            "supportsWebhookCallouts": entity.path in ("Tickets", "Companies", "Contacts"),
        }

    def _threshold_info(self) -> web.Response:
        now = self.now()
        cutoff = now - timedelta(seconds=self.threshold_window)
        used = sum(1 for t in self._usage if t > cutoff)
        return _json(
            {
                "externalRequestThreshold": self.threshold,
                "requestThresholdTimeframe": round(self.threshold_window / 60),
                "currentTimeframeRequestCount": used,
            }
        )

    def _zone(self, request: web.Request) -> web.Response:
        user = request.query.get("user", "")
        if user.lower() not in self.api_users:
            return _errors(500, f"Zone information could not be found for user '{user}'.")
        return _json(
            {
                "zoneName": self.zone_name,
                "url": self.zone_url,
                "webUrl": f"{self.root}/",
                "ci": 30595,
            }
        )
