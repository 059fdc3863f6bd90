"""ticketing_autotask: Autotask PSA (Datto/Kaseya) through REST API v1.0.

Tickets are Autotask Tickets, projects are companies (companyID). How fields
map is in autotask_mapping; filters are translated here (see Filters).

Requests
    The base is the integration's url, the zone's REST base (for example
    https://webservices5.autotask.net/atservicesrest; a trailing /v1.0 is
    tolerated). Every request carries the API user's headers ApiIntegrationCode,
    UserName and Secret (the Secret and the integration code are scrubbed from
    messages) and `Accept: application/json`.

    ===============  ======================================================
    operator         calls
    ===============  ======================================================
    create_ticket    [GET /v1.0/Tickets/entityInformation/fields],
                     POST /v1.0/Tickets -> {itemId}, GET /v1.0/Tickets/{itemId}
    get_ticket       GET /v1.0/Tickets/{id} -> {item}, [fields]
    patch_ticket     GET /v1.0/Tickets/{id}, [fields], [PATCH /v1.0/Tickets
                     with {id, changed fields...}, GET /v1.0/Tickets/{id}]
    query_tickets    [fields], POST /v1.0/Tickets/query per page
    ===============  ======================================================

    The field metadata (picklist labels, required and read-only flags) is
    read once per provider instance, and again (at most once a minute) when a
    label or a value is not found in it. A PATCH that would change nothing
    is not sent.

Creating
    companyID is ticket.project or the integration's default_project;
    ticketCategory is ticket.issue_type or default_issue_type (a category
    id or label); status and priority, when not given, take the picklist's
    default value, else (when the field is required) the labels New and
    Medium. Autotask itself requires dueDateTime unless the ticket category
    supplies one: the connector does not invent a due date.

Paging
    Autotask queries cannot be ordered, and how to follow pageDetails.
    nextPageUrl (GET or POST) and how long it lives are not documented
    where we could read (third parties disagree; one reports that only the
    50 latest pages are kept). So pages are read by id instead: each page is
    a POST /Tickets/query of the filter ANDed with `id > last id seen`
    (`id >= 0` first), MaxRecords at most 500, sorted by id;
    pageDetails.nextPageUrl null (or an empty page) ends the stream. This
    relies on Autotask answering with the matching tickets of lowest id
    first. The cursor of each ticket is {"after_id": its id}: a resumed
    query asks for the tickets after it, so tickets created or deleted
    meanwhile neither repeat nor hide others, whatever the page size.
    Tickets a `like` with inner wildcards matches only loosely are dropped
    after paging.

Filters
    Translated to the JSON filter grammar (top-level items ANDed, `or`
    items grouping others). status and issue_type take labels (every value
    with that label) or values; priority takes model names, matched through
    the labels, the ordering operators comparing PLANNING < LOW < MODERATE <
    MEDIUM < HIGH < CRITICAL < URGENT. `neq`/`not in` never match an empty
    field in Autotask, while the contract says a missing value matches
    them, so they become `or` groups with `notExist` (except on fields every
    ticket has). `like` is Autotask's `contains` (no wildcard of its own): a
    value with inner `*` becomes one `contains` per part and the order of
    the parts is re-checked here (`QueryPlan.keeps`). `not like` cannot be
    expressed (there is no negated contains) and is not offered. No field
    is orderable (Autotask queries have no order). Autotask can query only
    one user-defined field at a time: a filter naming two custom fields is
    INVALID_ARGUMENT.

Errors
    Autotask's articles on writes say an unsuccessful operation answers 500
    with `{"errors": [...]}` (a required field missing, a bad value); so a
    500 to a POST or PATCH (create, update, query) is INVALID_ARGUMENT
    (PROVIDER_REJECTED) with Autotask's words. Other statuses map through
    the shared HTTP layer. A GET of a ticket that does not exist is
    NOT_FOUND whether Autotask answers 404 or `{"item": null}`, and so is an
    id that is not a number (no ticket can have it).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import aclosing
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Any

from ticketing.v1 import ticket_pb2

from ..errors import InvalidArgument, NotFound, Unavailable
from ..query import (
    LIKE_OPS,
    LIST_OPS,
    Condition,
    FieldSpec,
    FieldType,
    Op,
    Query,
    QuerySchema,
    Value,
    field,
)
from .autotask_mapping import (
    COLUMNS,
    LABEL_TO_PRIORITY,
    NEVER_EMPTY,
    PRIORITY_ORDER,
    WRITABLE,
    TicketFields,
    error_text,
    format_time,
    plain,
    raw_value,
    text_of,
    ticket_from_item,
    whole,
    write_body,
)
from .base import Cursor, Page, Provider, ProviderContext
from .http import ProviderHTTP, Response, auth_from_credential
from .paging import paginate

__all__ = ["TICKET_SCHEMA", "AutotaskProvider", "QueryPlan", "autotask_error_text", "query_plan"]

API = "/v1.0"
TICKETS = f"{API}/Tickets"
FIELDS = f"{TICKETS}/entityInformation/fields"
JSON: Mapping[str, str] = {"Accept": "application/json"}
MAX_RECORDS = 500
"""The largest page Autotask serves."""
REFRESH_INTERVAL = 60.0
"""The field metadata is re-read at most this often (seconds) when a label is missing."""

autotask_error_text = error_text
"""The error text of an Autotask error body (for ProviderHTTP)."""


def rest_base(url: str) -> str:
    """The zone's REST base from the configured url (a trailing /v1.0 dropped)."""
    base = url.strip().rstrip("/")
    if base.lower().endswith(API):
        base = base[: -len(API)]
    return base


def ticket_number(ticket_id: str) -> int:
    """The numeric id of a ticket; NOT_FOUND for anything else (no ticket has it)."""
    text = ticket_id.strip()
    if not text.isascii() or not text.isdigit() or len(text) > 18:
        raise NotFound(
            f"Autotask has no ticket {ticket_id!r} (ticket ids are numbers)",
            metadata={"provider": AutotaskProvider.id},
        )
    return int(text)


def resume_after(after: Cursor | None) -> int | None:
    """The id a resume cursor names; INVALID_RESUME_TOKEN when it names none."""
    if after is None:
        return None
    value = after.get("after_id") if isinstance(after, dict) else None
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise InvalidArgument(
        "the resume token does not name an Autotask ticket", reason="INVALID_RESUME_TOKEN"
    )


# -- filters ------------------------------------------------------------------------

NOTHING: Mapping[str, Any] = MappingProxyType({"op": "lt", "field": "id", "value": 0})
"""A filter no ticket satisfies."""
EQUALITY = frozenset({Op.EQ, Op.NEQ, Op.IN, Op.NOT_IN})
RANGE = frozenset({Op.EQ, Op.NEQ, Op.GT, Op.GTE, Op.LT, Op.LTE})
CUSTOM_OPS = RANGE | LIST_OPS | {Op.LIKE}
"""What a custom field (UDF) filter accepts."""

TICKET_SCHEMA = QuerySchema.of(
    field("id", FieldType.NUMBER, RANGE | LIST_OPS, orderable=False),
    field("summary", FieldType.STRING, EQUALITY | {Op.LIKE}, orderable=False),
    field("description", FieldType.STRING, {Op.LIKE}, orderable=False),
    field("status", FieldType.STRING, EQUALITY, orderable=False),
    field(
        "priority",
        FieldType.ENUM,
        RANGE | LIST_OPS,
        orderable=False,
        enum_values=PRIORITY_ORDER,
    ),
    field("project", FieldType.NUMBER, EQUALITY, orderable=False),
    field("issue_type", FieldType.STRING, EQUALITY, orderable=False),
    field("assignee", FieldType.NUMBER, EQUALITY, orderable=False),
    field("contact", FieldType.NUMBER, EQUALITY, orderable=False),
    field("creator", FieldType.NUMBER, EQUALITY, orderable=False),
    *(
        field(name, FieldType.DATETIME, RANGE | LIST_OPS, orderable=False)
        for name in ("created_at", "updated_at", "due_date", "completion_date")
    ),
)
"""What query_tickets accepts (custom fields are added per integration)."""

_AUTOTASK_OP = {
    Op.EQ: "eq",
    Op.GT: "gt",
    Op.GTE: "gte",
    Op.LT: "lt",
    Op.LTE: "lte",
}
_POSITIVE = {Op.NEQ: Op.EQ, Op.NOT_IN: Op.IN}


@dataclass(frozen=True)
class QueryPlan:
    """The filter items for a query and the `like` checks Autotask cannot make."""

    filters: tuple[Mapping[str, Any], ...]
    rechecks: tuple[tuple[str, re.Pattern[str]], ...] = ()

    def keeps(self, ticket: ticket_pb2.Ticket) -> bool:
        """Whether a ticket Autotask returned satisfies the ordered `like` parts."""
        custom = plain(ticket.custom_fields)
        for name, pattern in self.rechecks:
            if name.startswith("custom_fields."):
                value = custom.get(name.removeprefix("custom_fields."))
                text = "" if value is None else text_of(value)
            else:
                text = getattr(ticket, name)
            if not pattern.search(text):
                return False
        return True


def _item(column: str, op: str, value: Any = None, udf: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {"op": op, "field": column}
    if op not in ("exist", "notExist"):
        out["value"] = value
    if udf:
        out["udf"] = True
    return out


def _literal(value: Value, name: str, numeric: bool) -> Any:
    if isinstance(value, datetime):
        return format_time(value)
    if numeric:
        if not (isinstance(value, float) and value.is_integer() and value >= 0):
            raise InvalidArgument(f"filter {name}: {value!r} is not an Autotask id")
        return int(value)
    return value


def _listed(column: str, values: Sequence[Any], negated: bool, udf: bool) -> list[dict[str, Any]]:
    """`col = v` / `col in [...]`, or their negation with missing values matching."""
    values = list(dict.fromkeys(values))
    if not values:
        return [] if negated else [dict(NOTHING)]
    if len(values) == 1:
        item = _item(column, "noteq" if negated else "eq", values[0], udf)
    else:
        item = _item(column, "notIn" if negated else "in", values, udf)
    if not negated or column in NEVER_EMPTY:
        return [item]
    return [{"op": "or", "items": [item, _item(column, "notExist", udf=udf)]}]


def _priority_values(op: Op, given: Sequence[Value], fields: TicketFields) -> list[int | str]:
    """The picklist values whose Priority satisfies a positive `op` (enum order)."""
    rank = {name: i for i, name in enumerate(PRIORITY_ORDER)}
    wanted = [rank[str(v)] for v in given]
    tests: Mapping[Op, Callable[[int], bool]] = {
        Op.EQ: lambda i: i in wanted,
        Op.IN: lambda i: i in wanted,
        Op.GT: lambda i: i > wanted[0],
        Op.GTE: lambda i: i >= wanted[0],
        Op.LT: lambda i: i < wanted[0],
        Op.LTE: lambda i: i <= wanted[0],
    }
    found: list[int | str] = []
    for choice in fields.get("priority").choices:
        priority = LABEL_TO_PRIORITY.get(choice.label.strip().casefold())
        if priority is not None and tests[op](rank[ticket_pb2.Priority.Name(priority)]):  # type: ignore[arg-type]
            found.append(raw_value(choice.value))
    return found


def _like(column: str, name: str, value: str, udf: bool) -> tuple[list[dict[str, Any]], Any]:
    parts = [part for part in value.split("*") if part]
    if not parts:
        return [_item(column, "exist", udf=udf)], None
    items = [_item(column, "contains", part, udf) for part in dict.fromkeys(parts)]
    if len(parts) == 1:
        return items, None
    regex = ".*".join(re.escape(part) for part in parts)
    return items, (name, re.compile(regex, re.IGNORECASE | re.DOTALL))


def _condition(
    cond: Condition, fields: TicketFields, custom_fields: Mapping[str, str]
) -> tuple[list[dict[str, Any]], Any]:
    name, op = cond.field, cond.op
    udf = name.startswith("custom_fields.")
    if udf:
        custom = name.removeprefix("custom_fields.")
        if custom not in custom_fields:
            mapped = ", ".join(sorted(custom_fields)) or "none"
            raise InvalidArgument(
                f"custom field {custom!r} is not mapped (mapped: {mapped})",
                reason="UNMAPPED_CUSTOM_FIELD",
            )
        column = custom_fields[custom]
    elif name in COLUMNS:
        column = COLUMNS[name]
    else:
        raise InvalidArgument(f"field {name!r} cannot be filtered on Autotask")
    if op in LIKE_OPS:
        if op is not Op.LIKE:
            raise InvalidArgument(f"filter {name}: Autotask cannot express {op.value!r}")
        return _like(column, name, str(cond.values[0]), udf)
    positive = _POSITIVE.get(op, op)
    negated = positive is not op
    if op in (Op.EQ, Op.NEQ) and cond.values[0] == "":
        return [_item(column, "notExist" if op is Op.EQ else "exist", udf=udf)], None
    if name == "priority":
        values: list[Any] = _priority_values(positive, cond.values, fields)
        if positive not in (Op.EQ, Op.IN):
            return _listed(column, values, negated=False, udf=udf), None
    elif name in ("status", "issue_type"):
        what = f"filter {name}"
        values = [v for given in cond.values for v in fields.values_for(column, str(given), what)]
    else:
        numeric = TICKET_SCHEMA.fields[name].type is FieldType.NUMBER if not udf else False
        values = [_literal(v, name, numeric) for v in cond.values]
    if positive in (Op.EQ, Op.IN):
        return _listed(column, values, negated, udf), None
    return [_item(column, _AUTOTASK_OP[positive], values[0], udf)], None


def query_plan(
    query: Query, fields: TicketFields, custom_fields: Mapping[str, str] | None = None
) -> QueryPlan:
    """The filter items (ANDed) for a query's conditions; `custom_fields` maps
    custom field names to UDF names. The caller adds the paging bound on id."""
    custom_fields = custom_fields or {}
    if query.order:
        raise InvalidArgument("Autotask queries cannot be ordered")
    udfs = {
        custom_fields.get(c.field.removeprefix("custom_fields."), c.field)
        for c in query.conditions
        if c.field.startswith("custom_fields.")
    }
    if len(udfs) > 1:
        raise InvalidArgument(
            "Autotask can query only one user-defined field at a time; the filter names "
            + ", ".join(sorted(udfs))
        )
    filters: list[Mapping[str, Any]] = []
    rechecks: list[tuple[str, re.Pattern[str]]] = []
    for cond in query.conditions:
        items, recheck = _condition(cond, fields, custom_fields)
        filters += items
        if recheck is not None:
            rechecks.append(recheck)
    return QueryPlan(tuple(filters), tuple(rechecks))


class AutotaskProvider(Provider):
    id = "ticketing_autotask"
    display_name = "Autotask PSA"
    filter_schemas = {"query_tickets": TICKET_SCHEMA}

    def __init__(self, context: ProviderContext) -> None:
        super().__init__(context)
        config = context.integration.autotask
        self.base_url = rest_base(str(config.url))
        self.default_project = str(config.default_project).strip()
        self.default_category = str(config.default_issue_type).strip()
        credential = config.credential
        if credential.WhichOneof("credential") != "autotask":
            raise InvalidArgument(
                "autotask.credential must be the autotask kind (api_integration_code, "
                "username, secret)",
                reason="INVALID_CREDENTIAL",
            )
        self.http = ProviderHTTP(
            self.id,
            self.base_url,
            auth_from_credential(credential),
            allow_private=context.allow_private_urls,
            error_text=error_text,
            secrets=(credential.autotask.secret,),
        )
        self._fields: TicketFields | None = None
        self._fields_read_at = 0.0
        self._fields_lock = asyncio.Lock()

    async def close(self) -> None:
        await self.http.close()

    def filter_schema(self, operator: str) -> QuerySchema:
        schema = super().filter_schema(operator)
        if operator != "query_tickets":
            return schema
        names = sorted(self.context.custom_fields.names())
        return schema.with_fields(
            FieldSpec(f"custom_fields.{n}", FieldType.ANY, CUSTOM_OPS) for n in names
        )

    # -- requests ----------------------------------------------------------------------

    async def _call(self, method: str, path: str, body: Any = None) -> Any:
        """A request's JSON answer; a POST/PATCH answered 500 is INVALID_ARGUMENT."""
        try:
            response: Response = await self.http.request(method, path, json=body, headers=JSON)
        except Unavailable as exc:
            if method in ("POST", "PATCH") and exc.metadata.get("http_status") == "500":
                raise InvalidArgument(
                    exc.message, reason="PROVIDER_REJECTED", metadata=exc.metadata
                ) from None
            raise
        return response.json()

    def _bad_response(self, what: str) -> Unavailable:
        return Unavailable(
            f"Autotask answered {what}",
            reason="PROVIDER_BAD_RESPONSE",
            metadata={"provider": self.id},
        )

    async def _ticket_fields(self, refresh: bool = False) -> TicketFields:
        """The Tickets field metadata; `refresh` re-reads it when older than a minute."""
        async with self._fields_lock:
            stale = time.monotonic() - self._fields_read_at >= REFRESH_INTERVAL
            if self._fields is None or (refresh and stale):
                self._fields = TicketFields.parse(await self._call("GET", FIELDS))
                self._fields_read_at = time.monotonic()
            return self._fields

    async def _item(self, number: int) -> dict[str, Any]:
        try:
            result = await self._call("GET", f"{TICKETS}/{number}")
        except NotFound:
            result = None
        item = result.get("item") if isinstance(result, dict) else None
        if item is None:
            raise NotFound(f"Autotask has no ticket {number}", metadata={"provider": self.id})
        if not isinstance(item, dict):
            raise self._bad_response(f"GET {TICKETS}/{number} with an item that is not an object")
        return item

    async def _ticket(self, item: Mapping[str, Any]) -> ticket_pb2.Ticket:
        fields = await self._ticket_fields()
        if not fields.knows(item):
            fields = await self._ticket_fields(refresh=True)
        project = text_of(item.get("companyID"))
        return ticket_from_item(
            item,
            fields,
            custom_fields=self.context.custom_fields.for_project(project),
            base_url=self.base_url,
        )

    async def _body(
        self,
        ticket: ticket_pb2.Ticket,
        paths: Sequence[str],
        current: Mapping[str, Any] | None,
        project: str,
    ) -> dict[str, Any]:
        """The write body, the metadata re-read once when a label is not in it."""
        custom = self.context.custom_fields.for_project(project)
        fields = await self._ticket_fields()
        try:
            return write_body(ticket, paths, fields, current=current, custom_fields=custom)
        except InvalidArgument as exc:
            if exc.reason != "UNKNOWN_CHOICE":
                raise
        fields = await self._ticket_fields(refresh=True)
        return write_body(ticket, paths, fields, current=current, custom_fields=custom)

    # -- tickets ---------------------------------------------------------------------

    async def create_ticket(self, ticket: ticket_pb2.Ticket) -> ticket_pb2.Ticket:
        model = ticket_pb2.Ticket()
        model.CopyFrom(ticket)
        model.project = model.project.strip() or self.default_project
        if not model.project:
            raise InvalidArgument(
                "ticket.project (an Autotask company id) is required: the integration "
                "has no default_project"
            )
        if not model.issue_type.strip() and self.default_category:
            model.issue_type = self.default_category
        paths = [p for p in WRITABLE if _has(model, p)]
        paths += ["creator", "parent", "tags"]
        paths += [f"custom_fields.{name}" for name in plain(model.custom_fields)]
        body = await self._body(model, paths, None, model.project)
        fields = await self._ticket_fields()
        for column in ("status", "priority"):
            if column not in body and (default := fields.default(column)) is not None:
                body[column] = default
        created = await self._call("POST", TICKETS, body)
        item_id = created.get("itemId") if isinstance(created, dict) else None
        try:
            number = whole(str(item_id), "itemId")
        except InvalidArgument:
            raise self._bad_response(f"POST {TICKETS} without the new ticket's itemId") from None
        return await self._ticket(await self._item(number))

    async def get_ticket(self, ticket_id: str) -> ticket_pb2.Ticket:
        return await self._ticket(await self._item(ticket_number(ticket_id)))

    async def patch_ticket(
        self, ticket: ticket_pb2.Ticket, paths: Sequence[str]
    ) -> ticket_pb2.Ticket:
        number = ticket_number(ticket.id)
        current = await self._item(number)
        project = text_of(current.get("companyID"))
        if "project" in paths and ticket.project.strip():
            project = ticket.project.strip()  # the custom fields of the company it moves to
        body = await self._body(ticket, paths, current, project)
        if not body:
            return await self._ticket(current)
        await self._call("PATCH", TICKETS, {"id": number, **body})
        return await self._ticket(await self._item(number))

    def _query_custom_fields(self, query: Query) -> dict[str, str]:
        """Custom field name -> UDF name for a query: the company's mappings when the
        query names one company, else every mapping (a name mapped to two UDFs
        for different companies is refused)."""
        companies = {
            str(int(c.values[0]))
            for c in query.conditions
            if c.field == "project" and c.op is Op.EQ and isinstance(c.values[0], float)
        }
        if len(companies) == 1:
            return dict(self.context.custom_fields.for_project(next(iter(companies))))
        merged: dict[str, str] = {}
        used = {
            c.field.removeprefix("custom_fields.")
            for c in query.conditions
            if c.field.startswith("custom_fields.")
        }
        for project in self.context.custom_fields.by_project:
            for name, udf in self.context.custom_fields.for_project(project).items():
                if name in used and merged.setdefault(name, udf) != udf:
                    raise InvalidArgument(
                        f"custom field {name!r} maps to different Autotask UDFs for "
                        "different companies; filter on one project",
                        reason="AMBIGUOUS_CUSTOM_FIELD",
                    )
        return merged

    async def query_tickets(
        self, query: Query, page: Page
    ) -> AsyncIterator[tuple[ticket_pb2.Ticket, Cursor]]:
        start = resume_after(page.after)
        custom = self._query_custom_fields(query)
        fields = await self._ticket_fields()
        try:
            plan = query_plan(query, fields, custom)
        except InvalidArgument as exc:
            if exc.reason != "UNKNOWN_CHOICE":
                raise
            plan = query_plan(query, await self._ticket_fields(refresh=True), custom)
        size = max(1, min(page.size_hint or page.limit or MAX_RECORDS, MAX_RECORDS))

        async def fetch(token: Any) -> tuple[list[dict[str, Any]], Any]:
            lower = token if token is not None else start
            bound = (
                {"op": "gte", "field": "id", "value": 0}
                if lower is None
                else {"op": "gt", "field": "id", "value": lower}
            )
            result = await self._call(
                "POST", f"{TICKETS}/query", {"MaxRecords": size, "Filter": [*plan.filters, bound]}
            )
            listed = result.get("items") if isinstance(result, dict) else None
            if not isinstance(listed, list):
                raise self._bad_response(f"POST {TICKETS}/query without items")
            items = sorted(
                (
                    item
                    for item in listed
                    if isinstance(item, dict)
                    and isinstance(item.get("id"), int)
                    and (lower is None or item["id"] > lower)
                ),
                key=lambda item: int(item["id"]),
            )
            details = result.get("pageDetails")
            more = isinstance(details, dict) and bool(details.get("nextPageUrl"))
            return items, (items[-1]["id"] if more and items else None)

        async with aclosing(paginate(fetch)) as stream:
            async for item, _ in stream:
                ticket = await self._ticket(item)
                if plan.keeps(ticket):
                    yield ticket, {"after_id": item["id"]}


def _has(ticket: ticket_pb2.Ticket, path: str) -> bool:
    if path in ("due_date", "completion_date"):
        return ticket.HasField(path)
    if path == "priority":
        return ticket.priority != ticket_pb2.PRIORITY_UNSPECIFIED
    return bool(str(getattr(ticket, path)).strip())
