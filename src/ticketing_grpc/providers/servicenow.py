"""ticketing_servicenow and ticketing_servicenow_sir: ServiceNow through the Table API.

Both products are tables behind `/api/now/table/{table}`: ITSM works on
`incident` (or the integration's default_project, a table extending it),
SIR on `sn_si_incident`. One implementation serves both; the two classes
differ in id, config field, default table, columns (SIR has no caller_id)
and operators (SIR has no work notes).

- Ticket id = the record's sys_id; ticket.project = its table
  (sys_class_name). A ticket is looked up in the default table, then in the
  product's base table (incident / sn_si_incident) if that differs, and
  written through its own class table (so the class's columns are not
  silently dropped).
- Every request sends `Accept: application/json`; records are read with
  `sysparm_display_value=all&sysparm_exclude_reference_link=true`, system
  tables with actual values (`sysparm_display_value=false`). Writes send
  actual values only (see servicenow_mapping for why and for the mapping).
- ServiceNow silently ignores unknown columns in a query or a write body, so
  every column a query or a write uses is checked against sys_dictionary for
  the table and the tables it extends (the chain comes from sys_db_object's
  super_class; when sys_db_object cannot be read, the table is assumed to
  extend task, as every ticket table does). The dictionary is cached per
  provider instance and re-read (at most once a minute per table) when a
  column is not found in it.
- Lists page with sysparm_offset/sysparm_limit through paging.paginate (the
  page token is the offset). sysparm_limit applies before access rules, so a
  short page is not the end: the next page is the Link header's rel="next"
  (its sysparm_offset), else offset+limit while X-Total-Count says there is
  more, else (neither header) offset+limit after a full page.
- Comments are the `comments` journal, notes `work_notes`: an entry is added
  by PATCHing the field on the record, then looked up in sys_journal_field
  (newest first, the entry whose text is what was written) to return it with
  its id; entries are listed from sys_journal_field and deleted there after
  checking they belong to the ticket and journal.
- Auth: basic, or OAuth 2 client credentials against `{instance}/oauth_token.do`
  with the config's oauth_scopes. Rate limits (429 with Retry-After and
  X-RateLimit-*) and error statuses are handled by the shared HTTP layer;
  the error text comes from `{"error": {"message", "detail"}}`.
"""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import quote as urlquote

from multidict import CIMultiDictProxy
from ticketing.v1 import ticket_pb2
from yarl import URL

from ..errors import InvalidArgument, NotFound, PermissionDenied, Unavailable
from ..query import ALL_OPS, FieldSpec, FieldType, Query, QuerySchema
from .base import Cursor, Page, Provider, ProviderContext
from .http import ProviderHTTP, Response, auth_from_credential
from .paging import paginate, parse_cursor
from .servicenow_mapping import (
    CLASS_COLUMN,
    ITSM_STATES,
    SIR_STATES,
    SIR_TICKET_COLUMNS,
    TICKET_COLUMNS,
    Choice,
    choices_from_rows,
    comment_from_journal,
    error_text,
    note_from_journal,
    note_text,
    plain,
    record_from_ticket,
    remote_field,
    same_text,
    ticket_from_record,
    value_of,
)
from .servicenow_query import (
    SIR_TICKET_SCHEMA,
    TICKET_SCHEMA,
    check_columns,
    columns_used,
    escape,
    split_table,
    to_encoded_query,
)

__all__ = ["ServiceNowProvider", "ServiceNowSirProvider", "servicenow_error_text"]

API = "/api/now/table"
JSON: Mapping[str, str] = {"Accept": "application/json"}
READ: Mapping[str, str] = {
    "sysparm_display_value": "all",
    "sysparm_exclude_reference_link": "true",
}
RAW: Mapping[str, str] = {
    "sysparm_display_value": "false",
    "sysparm_exclude_reference_link": "true",
}
QUERY_PAGE = 100
LIST_PAGE = 100
META_PAGE = 1000
MAX_LIMIT = 10000
JOURNAL_WINDOW = 20
"""How many newest journal entries are searched for the one just written."""
REFRESH_INTERVAL = 60.0
"""The dictionary of a table is re-read at most this often (seconds)."""
TASK = "task"
MAX_CHAIN = 16

DICTIONARY_FIELDS = "name,element,column_label,internal_type,reference,active,sys_id"
CHOICE_FIELDS = "name,element,value,label,inactive,sequence,language"
JOURNAL_FIELDS = "sys_id,element_id,element,name,value,sys_created_on,sys_created_by"
TICKET_WRITABLE = (
    "summary",
    "description",
    "priority",
    "status",
    "assignee",
    "creator",
    "contact",
    "issue_type",
    "parent",
    "due_date",
    "completion_date",
    "tags",
)
"""Model fields create_ticket writes when set."""

_TABLE_NAME = re.compile(r"[A-Za-z0-9_]{1,80}")
_LINK = re.compile(r"\s*<?([^<>]*?)>?\s*;\s*rel=\"?([A-Za-z]+)\"?\s*(?:,|$)")
"""One `<url>;rel="x"` of a Link header; the `<` may be missing (as in the
Table API reference's own example)."""

servicenow_error_text = error_text
"""The error text of a ServiceNow error body (for ProviderHTTP)."""

Fetch = Callable[[Any], Awaitable[tuple[list[Any], Any]]]


@dataclass(frozen=True)
class _Table:
    """What sys_db_object and sys_dictionary say about a table."""

    name: str
    chain: tuple[str, ...]
    """The table, then the tables it extends, nearest first."""
    columns: Mapping[str, Mapping[str, Any]]
    """column -> its sys_dictionary row (the nearest table's definition)."""
    read_at: float


def table_name(name: str) -> str:
    """A table name checked before it goes into a path or an encoded query."""
    if not _TABLE_NAME.fullmatch(name):
        raise InvalidArgument(f"{name!r} is not a ServiceNow table name", reason="INVALID_TABLE")
    return name


def next_offset(
    headers: Mapping[str, str] | CIMultiDictProxy[str], offset: int, limit: int, count: int
) -> int | None:
    """The offset of the page after [offset, offset+limit), or None at the end.

    A short page is not the end (sysparm_limit applies before access rules):
    the Link header decides when present, else X-Total-Count, else whether
    the page was full.
    """
    following = offset + limit
    link = headers.get("Link")
    if link is not None:
        targets = {rel.lower(): url for url, rel in _LINK.findall(link)}
        if "next" not in targets:
            return None
        try:
            linked = int(URL(targets["next"]).query.get("sysparm_offset", ""))
        except ValueError:
            return following
        return linked if linked > offset else following
    total = headers.get("X-Total-Count")
    if total is not None:
        try:
            return following if following < int(total) else None
        except ValueError:
            pass
    return following if count >= limit else None


def _seg(value: str) -> str:
    return urlquote(value, safe="")


def _result(response: Response) -> Any:
    body = response.json()
    return body.get("result") if isinstance(body, dict) else None


class _ServiceNow(Provider):
    """The shared implementation; the registered classes below pick operators."""

    config_field: ClassVar[str] = "servicenow"
    base_table: ClassVar[str] = "incident"
    model_columns: ClassVar[Mapping[str, str]] = TICKET_COLUMNS
    default_states: ClassVar[tuple[Choice, ...]] = ITSM_STATES

    def __init__(self, context: ProviderContext) -> None:
        super().__init__(context)
        config = getattr(context.integration, self.config_field)
        self.instance = str(config.url).rstrip("/")
        self.default_table = table_name(str(config.default_project or self.base_table))
        self.default_category = str(config.default_issue_type)
        self.http = ProviderHTTP(
            self.id,
            self.instance,
            auth_from_credential(
                config.credential,
                default_token_url=f"{self.instance}/oauth_token.do",
                scopes=tuple(config.oauth_scopes),
            ),
            allow_private=context.allow_private_urls,
            error_text=error_text,
        )
        self._tables: dict[str, _Table] = {}
        self._choices: dict[tuple[str, str], tuple[Choice, ...]] = {}

    async def close(self) -> None:
        await self.http.close()

    def filter_schema(self, operator: str) -> QuerySchema:
        schema = super().filter_schema(operator)
        if operator != "query_tickets":
            return schema
        names = sorted(self.context.custom_fields.names())
        return schema.with_fields(
            FieldSpec(f"custom_fields.{n}", FieldType.ANY, ALL_OPS) for n in names
        )

    # -- requests ----------------------------------------------------------------------

    async def _call(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
    ) -> Response:
        return await self.http.request(
            method, path, params=dict(params or {}), json=body, headers=JSON
        )

    def _pages(
        self, path: str, params: Mapping[str, Any], size: int, after: Cursor | None
    ) -> Fetch:
        """A page fetcher for sysparm_offset/sysparm_limit (page token = offset).

        The page a resume token names is fetched at least as long as the
        position it holds, so a smaller page size on resume loses nothing.
        """
        first, skip = parse_cursor(after)

        async def fetch(token: Any) -> tuple[list[Any], Any]:
            if token is None:
                offset = 0
            elif isinstance(token, int) and not isinstance(token, bool) and token >= 0:
                offset = token
            else:
                raise InvalidArgument(
                    "the resume token does not name a ServiceNow page",
                    reason="INVALID_RESUME_TOKEN",
                )
            limit = min(max(size, skip + 1) if token == first else size, MAX_LIMIT)
            query = {**params, "sysparm_offset": offset, "sysparm_limit": limit}
            response = await self._call("GET", path, query)
            result = _result(response)
            items = [r for r in result if isinstance(r, dict)] if isinstance(result, list) else []
            return items, next_offset(response.headers, offset, limit, len(result or []))

        return fetch

    async def _rows(
        self, path: str, params: Mapping[str, Any], size: int, after: Cursor | None = None
    ) -> AsyncIterator[tuple[dict[str, Any], Cursor]]:
        async for item, cursor in paginate(self._pages(path, params, size, after), after):
            yield item, cursor

    async def _all(self, table: str, query: str, fields: str) -> list[dict[str, Any]]:
        params = {**RAW, "sysparm_query": query, "sysparm_fields": fields}
        return [item async for item, _ in self._rows(f"{API}/{table}", params, META_PAGE)]

    # -- tables, dictionary, choices -----------------------------------------------------

    async def _chain(self, table: str) -> tuple[str, ...]:
        """The table and the tables it extends (sys_db_object.super_class)."""
        chain = [table]
        try:
            rows = await self._all(
                "sys_db_object", f"name={table}^ORDERBYsys_id", "name,super_class,sys_id"
            )
            parent = value_of(rows[0].get("super_class")) if rows else ""
            while rows and parent and len(chain) < MAX_CHAIN:
                row = _result(
                    await self._call(
                        "GET",
                        f"{API}/sys_db_object/{_seg(parent)}",
                        {**RAW, "sysparm_fields": "name,super_class"},
                    )
                )
                name = value_of(row.get("name")) if isinstance(row, dict) else ""
                if not name or name in chain or not _TABLE_NAME.fullmatch(name):
                    break
                chain.append(name)
                parent = value_of(row.get("super_class")) if isinstance(row, dict) else ""
        except (NotFound, PermissionDenied, InvalidArgument):
            rows = []  # sys_db_object is not readable here
        if not rows and TASK not in chain:
            chain.append(TASK)
        return tuple(chain)

    async def _table(self, name: str, refresh: bool = False) -> _Table:
        """The table's chain and columns; INVALID_ARGUMENT when it has none."""
        name = table_name(name)
        known = self._tables.get(name)
        if known is not None and not refresh:
            return known
        chain = await self._chain(name)
        columns: dict[str, Mapping[str, Any]] = {}
        for table in chain:
            rows = await self._all(
                "sys_dictionary", f"name={table}^ORDERBYsys_id", DICTIONARY_FIELDS
            )
            if table == name and not rows:
                raise InvalidArgument(
                    f"ServiceNow has no table {name!r} (sys_dictionary lists no column of it)",
                    reason="UNKNOWN_TABLE",
                )
            for row in rows:
                element = value_of(row.get("element"))
                if element and element not in columns and value_of(row.get("active")) != "false":
                    columns[element] = row
        info = _Table(name, chain, columns, time.monotonic())
        self._tables[name] = info
        for key in [k for k in self._choices if k[0] == name]:
            del self._choices[key]
        return info

    async def _require(self, table: str, used: Mapping[str, str]) -> _Table:
        """The table, after checking it has every column in `used` (column -> what)."""
        info = await self._table(table)
        missing = [c for c in used if c not in info.columns and not c.startswith("sys_")]
        if missing and time.monotonic() - info.read_at >= REFRESH_INTERVAL:
            info = await self._table(table, refresh=True)
        check_columns(used, info.columns, table)
        return info

    async def _choice_rows(self, query: str) -> list[dict[str, Any]]:
        """sys_choice rows; none when the integration user may not read sys_choice
        (state then falls back to the built-in choices, category is sent as given)."""
        try:
            return await self._all("sys_choice", query, CHOICE_FIELDS)
        except (PermissionDenied, NotFound):
            return []

    async def _column_choices(self, info: _Table, column: str) -> tuple[Choice, ...]:
        """The column's active choices, from the nearest table of the chain having any."""
        key = (info.name, column)
        if key not in self._choices:
            found: tuple[Choice, ...] = ()
            for table in info.chain:
                rows = await self._choice_rows(f"name={table}^element={column}")
                found = choices_from_rows(rows)
                if found:
                    break
            self._choices[key] = found
        return self._choices[key]

    async def _choices_for(
        self, info: _Table, columns: Sequence[str]
    ) -> dict[str, tuple[Choice, ...]]:
        """Choices of the state and category columns among `columns`."""
        out: dict[str, tuple[Choice, ...]] = {}
        state = self.model_columns["status"]
        category = self.model_columns["issue_type"]
        if state in columns:
            out[state] = await self._column_choices(info, state) or self.default_states
        if category in columns:
            out[category] = await self._column_choices(info, category)
        return out

    # -- records ---------------------------------------------------------------------

    async def _locate(
        self, sys_id: str, hint: str = "", params: Mapping[str, str] = READ
    ) -> tuple[dict[str, Any], str]:
        """(the record, the table it was found in): the hint, the default table,
        then the base table."""
        first = [table_name(hint)] if hint else []
        tables = list(dict.fromkeys([*first, self.default_table, self.base_table]))
        for table in tables:
            try:
                response = await self._call("GET", f"{API}/{table}/{_seg(sys_id)}", params)
            except NotFound:
                continue
            record = _result(response)
            if isinstance(record, dict):
                return record, table
        raise NotFound(
            f"ServiceNow has no ticket {sys_id!r} in {', '.join(tables)}",
            metadata={"provider": self.id},
        )

    @staticmethod
    def _class(record: Mapping[str, Any], found: str) -> str:
        """The record's own table (sys_class_name), else the table it was read from."""
        name = value_of(record.get(CLASS_COLUMN))
        return name if _TABLE_NAME.fullmatch(name) else found

    def _ticket(self, record: Mapping[str, Any], table: str) -> ticket_pb2.Ticket:
        project = self._class(record, table)
        states = self._choices.get((project, self.model_columns["status"])) or self.default_states
        return ticket_from_record(
            record,
            instance=self.instance,
            table=table,
            columns=self.model_columns,
            custom_fields=self.context.custom_fields.for_project(project),
            state_choices=states,
        )

    def _described(self, body: Mapping[str, str], custom: Mapping[str, str]) -> dict[str, str]:
        """column -> what names it, for the columns of a write body."""
        what = {column: f"ticket.{model}" for model, column in self.model_columns.items()}
        what |= {"impact": "ticket.priority", "urgency": "ticket.priority"}
        what |= {column: f"custom_fields.{name}" for name, column in custom.items()}
        return {column: what.get(column, column) for column in body}

    async def _body(
        self, info: _Table, ticket: ticket_pb2.Ticket, paths: Sequence[str]
    ) -> dict[str, str]:
        """The checked write body for `paths` of `ticket` on the table."""
        columns = [self.model_columns.get(p, "") for p in paths]
        custom = self.context.custom_fields.for_project(info.name)
        body = record_from_ticket(
            ticket,
            paths,
            columns=self.model_columns,
            choices=await self._choices_for(info, columns),
            custom_fields=custom,
        )
        await self._require(info.name, self._described(body, custom))
        return body

    # -- tickets ---------------------------------------------------------------------

    async def create_ticket(self, ticket: ticket_pb2.Ticket) -> ticket_pb2.Ticket:
        table = table_name(ticket.project or self.default_table)
        info = await self._table(table)
        model = ticket_pb2.Ticket()
        model.CopyFrom(ticket)
        if not model.issue_type and self.default_category:
            model.issue_type = self.default_category
        paths = [p for p in TICKET_WRITABLE if _has(model, p)]
        paths += [f"custom_fields.{name}" for name in plain(model.custom_fields)]
        body = await self._body(info, model, paths)
        created = _result(await self._call("POST", f"{API}/{table}", READ, body))
        if not isinstance(created, dict):
            raise Unavailable(
                "ServiceNow answered the insert without the record",
                reason="PROVIDER_BAD_RESPONSE",
                metadata={"provider": self.id},
            )
        return self._ticket(created, table)

    async def get_ticket(self, ticket_id: str) -> ticket_pb2.Ticket:
        record, table = await self._locate(ticket_id)
        return self._ticket(record, table)

    async def patch_ticket(
        self, ticket: ticket_pb2.Ticket, paths: Sequence[str]
    ) -> ticket_pb2.Ticket:
        record, found = await self._locate(ticket.id, ticket.project)
        table = self._class(record, found)
        if "project" in paths and ticket.project and ticket.project != table:
            raise InvalidArgument(
                f"moving a ServiceNow record to another table is not supported "
                f"(ticket {ticket.id!r} is in {table!r})"
            )
        info = await self._table(table)
        body = await self._body(info, ticket, paths)
        if not body:
            return self._ticket(record, found)
        sys_id = value_of(record.get("sys_id")) or ticket.id
        updated = _result(await self._call("PATCH", f"{API}/{table}/{_seg(sys_id)}", READ, body))
        if not isinstance(updated, dict):
            record, found = await self._locate(sys_id, table)
            return self._ticket(record, found)
        return self._ticket(updated, table)

    async def query_tickets(
        self, query: Query, page: Page
    ) -> AsyncIterator[tuple[ticket_pb2.Ticket, Cursor]]:
        named, rest = split_table(query)
        table = table_name(named or self.default_table)
        custom = self.context.custom_fields.for_project(table)
        used = columns_used(rest, columns=self.model_columns, custom_fields=custom)
        info = await self._require(table, used)
        encoded = to_encoded_query(
            rest,
            columns=self.model_columns,
            custom_fields=custom,
            choices=await self._choices_for(info, list(used)),
        )
        size = min(page.size_hint or page.limit or QUERY_PAGE, QUERY_PAGE)
        params = {**READ, "sysparm_query": encoded}
        async for record, cursor in self._rows(f"{API}/{table}", params, size, page.after):
            yield self._ticket(record, table), cursor

    # -- journals (comments, work notes) -----------------------------------------------

    async def _journal_owner(self, ticket_id: str) -> tuple[str, str]:
        """(sys_id, table) of the ticket a journal belongs to; NOT_FOUND if none."""
        record, found = await self._locate(
            ticket_id, params={**RAW, "sysparm_fields": "sys_id,sys_class_name"}
        )
        return value_of(record.get("sys_id")) or ticket_id, self._class(record, found)

    async def _add_entry(self, ticket_id: str, element: str, text: str) -> dict[str, Any]:
        if not text.strip():
            raise InvalidArgument(
                "the entry has no text (ServiceNow ignores an empty journal entry)"
            )
        sys_id, table = await self._journal_owner(ticket_id)
        await self._require(table, {element: f"the {element} journal"})
        await self._call(
            "PATCH", f"{API}/{table}/{_seg(sys_id)}", {"sysparm_fields": "sys_id"}, {element: text}
        )
        query = (
            f"element_id={escape(sys_id)}^element={element}"
            "^ORDERBYDESCsys_created_on^ORDERBYDESCsys_id"
        )
        params: dict[str, Any] = {**RAW, "sysparm_query": query, "sysparm_fields": JOURNAL_FIELDS}
        params["sysparm_limit"] = JOURNAL_WINDOW
        entries = _result(await self._call("GET", f"{API}/sys_journal_field", params))
        for entry in entries if isinstance(entries, list) else []:
            if isinstance(entry, dict) and same_text(value_of(entry.get("value")), text):
                return entry
        raise Unavailable(
            f"ServiceNow took the {element} entry but it is not among the newest "
            f"sys_journal_field entries of ticket {ticket_id!r}",
            reason="PROVIDER_BAD_RESPONSE",
            metadata={"provider": self.id},
        )

    async def _entries(
        self, ticket_id: str, element: str, page: Page
    ) -> AsyncIterator[tuple[dict[str, Any], Cursor]]:
        sys_id, _ = await self._journal_owner(ticket_id)
        query = f"element_id={escape(sys_id)}^element={element}^ORDERBYsys_created_on^ORDERBYsys_id"
        params = {**RAW, "sysparm_query": query, "sysparm_fields": JOURNAL_FIELDS}
        size = min(page.size_hint or page.limit or LIST_PAGE, LIST_PAGE)
        async for entry, cursor in self._rows(f"{API}/sys_journal_field", params, size, page.after):
            yield entry, cursor

    async def _delete_entry(self, ticket_id: str, element: str, entry_id: str, what: str) -> None:
        path = f"{API}/sys_journal_field/{_seg(entry_id)}"
        try:
            entry = _result(
                await self._call("GET", path, {**RAW, "sysparm_fields": JOURNAL_FIELDS})
            )
        except NotFound:
            entry = None
        if (
            not isinstance(entry, dict)
            or value_of(entry.get("element_id")) != ticket_id
            or value_of(entry.get("element")) != element
        ):
            raise NotFound(
                f"{what} {entry_id!r} not found on ticket {ticket_id!r}",
                metadata={"provider": self.id},
            )
        await self._call("DELETE", path)

    # -- comments --------------------------------------------------------------------

    async def create_comment(self, comment: ticket_pb2.Comment) -> ticket_pb2.Comment:
        entry = await self._add_entry(comment.ticket_id, "comments", comment.content)
        return comment_from_journal(entry, comment.ticket_id)

    async def list_comments(
        self, ticket_id: str, page: Page
    ) -> AsyncIterator[tuple[ticket_pb2.Comment, Cursor]]:
        async for entry, cursor in self._entries(ticket_id, "comments", page):
            yield comment_from_journal(entry, ticket_id), cursor

    async def delete_comment(self, ticket_id: str, comment_id: str) -> None:
        await self._delete_entry(ticket_id, "comments", comment_id, "comment")

    # -- remote fields ---------------------------------------------------------------

    async def list_remote_fields(self, project_id: str) -> AsyncIterator[ticket_pb2.RemoteField]:
        info = await self._table(project_id or self.default_table, refresh=True)
        by_table: dict[str, dict[str, list[dict[str, Any]]]] = {}
        for table in info.chain:
            grouped: dict[str, list[dict[str, Any]]] = {}
            for choice in await self._choice_rows(f"name={table}"):
                grouped.setdefault(value_of(choice.get("element")), []).append(choice)
            by_table[table] = grouped
        for element, row in sorted(info.columns.items()):
            choices: tuple[Choice, ...] = ()
            for table in info.chain:
                choices = choices_from_rows(by_table[table].get(element, []))
                if choices:
                    break
            yield remote_field(row, table=info.name, choices=choices)


class ServiceNowProvider(_ServiceNow):
    """ServiceNow ITSM: incident (or default_project), with comments and work notes."""

    id = "ticketing_servicenow"
    display_name = "ServiceNow ITSM"
    filter_schemas = {"query_tickets": TICKET_SCHEMA}
    config_field = "servicenow"
    base_table = "incident"
    model_columns = TICKET_COLUMNS
    default_states = ITSM_STATES

    # Notes are work notes; patch_note stays unimplemented (journal entries are
    # not edited).

    async def create_note(self, note: ticket_pb2.Note) -> ticket_pb2.Note:
        entry = await self._add_entry(note.ticket_id, "work_notes", note_text(note))
        return note_from_journal(entry, note.ticket_id)

    async def list_notes(
        self, ticket_id: str, page: Page
    ) -> AsyncIterator[tuple[ticket_pb2.Note, Cursor]]:
        async for entry, cursor in self._entries(ticket_id, "work_notes", page):
            yield note_from_journal(entry, ticket_id), cursor

    async def delete_note(self, ticket_id: str, note_id: str) -> None:
        await self._delete_entry(ticket_id, "work_notes", note_id, "note")


class ServiceNowSirProvider(_ServiceNow):
    """ServiceNow Security Incident Response: sn_si_incident, comments but no notes."""

    id = "ticketing_servicenow_sir"
    display_name = "ServiceNow Security Incident Response"
    filter_schemas = {"query_tickets": SIR_TICKET_SCHEMA}
    config_field = "servicenow_sir"
    base_table = "sn_si_incident"
    model_columns = SIR_TICKET_COLUMNS
    default_states = SIR_STATES


def _has(ticket: ticket_pb2.Ticket, path: str) -> bool:
    if path in ("due_date", "completion_date"):
        return ticket.HasField(path)
    if path == "tags":
        return bool(ticket.tags)
    if path == "priority":
        return ticket.priority != ticket_pb2.PRIORITY_UNSPECIFIED
    return bool(getattr(ticket, path))
