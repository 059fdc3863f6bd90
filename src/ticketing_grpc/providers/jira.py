"""ticketing_jira: Atlassian Jira Cloud through REST API v3.

Only endpoints the official description does not mark deprecated are used:
search is `/rest/api/3/search/jql` (nextPageToken paging), projects come from
`/project/search`, create metadata from the per-project issue type endpoints.
A status changes only through the issue's transitions.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any
from urllib.parse import quote as urlquote

import aiohttp
from google.protobuf import json_format
from ticketing.v1 import ticket_pb2, ticketing_pb2

from ..errors import InvalidArgument, NotFound
from ..priorities import jira_priority_name
from ..query import ALL_OPS, FieldSpec, FieldType, Query, QuerySchema
from .adf import markdown_to_adf
from .base import Cursor, Page, Provider, ProviderContext
from .http import ProviderHTTP, auth_from_credential
from .jira_jql import TICKET_SCHEMA, to_jql
from .jira_mapping import (
    attachment_from_jira,
    comment_from_jira,
    custom_value_to_jira,
    format_date,
    project_from_jira,
    ticket_from_issue,
)
from .paging import paginate

API = "/rest/api/3"
Fetch = Callable[[Any], Awaitable[tuple[list[Any], Any]]]
SEARCH_PAGE = 100
LIST_PAGE = 50
CHUNK = 256 * 1024


def jira_error_text(status: int, body: bytes) -> str:
    """Jira's `{"errorMessages": [...], "errors": {field: message}}` as one line."""
    try:
        data = json.loads(body)
    except ValueError:
        return body[:200].decode("utf-8", "replace")
    if not isinstance(data, dict):
        return str(data)[:200]
    parts = [str(m) for m in data.get("errorMessages") or []]
    parts += [f"{k}: {v}" for k, v in (data.get("errors") or {}).items()]
    return "; ".join(parts) or body[:200].decode("utf-8", "replace")


class JiraProvider(Provider):
    id = "ticketing_jira"
    display_name = "Atlassian Jira Cloud"
    filter_schemas = {"query_tickets": TICKET_SCHEMA}

    def __init__(self, context: ProviderContext) -> None:
        super().__init__(context)
        config = context.integration.jira
        self.site = config.url.rstrip("/")
        self.default_project = config.default_project
        self.default_issue_type = config.default_issue_type
        self.priorities = dict(sorted(config.priority_map.items()))
        self.http = ProviderHTTP(
            self.id,
            self.site,
            auth_from_credential(config.credential),
            allow_private=context.allow_private_urls,
            error_text=jira_error_text,
        )
        self._fields: dict[str, Mapping[str, Any]] | None = None

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

    # Fields and custom field mappings

    async def _field_list(self, refresh: bool = False) -> dict[str, Mapping[str, Any]]:
        if self._fields is None or refresh:
            listed = (await self.http.request("GET", f"{API}/field")).json()
            self._fields = {str(f["id"]): f for f in listed}
        return self._fields

    async def _field_id(self, name: str, path: str) -> str:
        """The Jira field id a mapping's provider_field_path names (an id or a field name)."""
        for refresh in (False, True):
            fields = await self._field_list(refresh)
            if path in fields:
                return path
            for field_id, meta in fields.items():
                if str(meta.get("name", "")).casefold() == path.casefold():
                    return field_id
        raise InvalidArgument(
            f"custom field {name!r} maps to {path!r}, which is not a Jira field id or name"
        )

    async def _custom_ids(self, project: str) -> dict[str, str]:
        mapping = self.context.custom_fields.for_project(project)
        return {name: await self._field_id(name, path) for name, path in mapping.items()}

    async def _all_custom_ids(self) -> dict[str, str]:
        ids: dict[str, str] = {}
        for project in self.context.custom_fields.by_project:
            ids.update(await self._custom_ids(project))
        return ids

    async def _ticket(self, issue: Mapping[str, Any]) -> ticket_pb2.Ticket:
        project = str(((issue.get("fields") or {}).get("project") or {}).get("key") or "")
        return ticket_from_issue(
            issue,
            site=self.site,
            custom_fields=await self._custom_ids(project),
            field_types={k: v.get("schema", {}) for k, v in (await self._field_list()).items()},
            priority_overrides=self.priorities,
        )

    async def _custom_values(self, project: str, values: Mapping[str, Any]) -> dict[str, Any]:
        ids = await self._custom_ids(project)
        unknown = sorted(set(values) - set(ids))
        if unknown:
            raise InvalidArgument(
                f"custom field {unknown[0]!r} is not mapped for project {project!r} "
                f"(mapped: {', '.join(sorted(ids)) or 'none'})",
                reason="UNMAPPED_CUSTOM_FIELD",
            )
        fields = await self._field_list()
        return {
            ids[name]: custom_value_to_jira(name, value, fields[ids[name]].get("schema", {}))
            for name, value in values.items()
        }

    def _offset_pages(
        self,
        path: str,
        keys: tuple[str, ...],
        size: int,
        params: Mapping[str, Any] | None = None,
    ) -> Fetch:
        """A page fetcher for Jira's startAt/maxResults paging (page token = startAt)."""

        async def fetch(start: Any) -> tuple[list[Any], Any]:
            offset = int(start or 0)
            query = {**(params or {}), "startAt": offset, "maxResults": size}
            result = (await self.http.request("GET", path, params=query)).json()
            items = next((list(result[k]) for k in keys if result.get(k)), [])
            following = offset + len(items)
            if "isLast" in result:
                done = bool(result["isLast"])
            else:
                done = following >= int(result.get("total", 0))
            return items, None if done or not items else following

        return fetch

    # Tickets

    def _fields_for(self, ticket: ticket_pb2.Ticket, paths: Sequence[str]) -> dict[str, Any]:
        """Jira `fields` for the standard model fields named in `paths`."""
        out: dict[str, Any] = {}
        for path in paths:
            if path == "summary":
                out["summary"] = ticket.summary
            elif path == "description":
                out["description"] = (
                    markdown_to_adf(ticket.description) if ticket.description else None
                )
            elif path == "priority":
                name = jira_priority_name(ticket.priority, self.priorities)
                out["priority"] = {"name": name} if name else None
            elif path == "assignee":
                out["assignee"] = {"accountId": ticket.assignee} if ticket.assignee else None
            elif path == "contact":
                out["reporter"] = {"accountId": ticket.contact} if ticket.contact else None
            elif path == "issue_type":
                out["issuetype"] = {"name": ticket.issue_type}
            elif path == "parent":
                out["parent"] = {"key": ticket.parent} if ticket.parent else None
            elif path == "tags":
                spaced = [t for t in ticket.tags if any(c.isspace() for c in t)]
                if spaced:
                    raise InvalidArgument(f"Jira labels cannot contain spaces: {spaced[0]!r}")
                out["labels"] = list(ticket.tags)
            elif path == "due_date":
                out["duedate"] = (
                    format_date(ticket.due_date) if ticket.HasField("due_date") else None
                )
            elif path in ("creator", "completion_date"):
                raise InvalidArgument(f"Jira sets ticket.{path} itself; it cannot be written")
        return out

    async def create_ticket(self, ticket: ticket_pb2.Ticket) -> ticket_pb2.Ticket:
        project = ticket.project or self.default_project
        issue_type = ticket.issue_type or self.default_issue_type
        if not project:
            raise InvalidArgument(
                "ticket.project is required: this integration has no default_project"
            )
        if not issue_type:
            raise InvalidArgument(
                "ticket.issue_type is required: this integration has no default_issue_type"
            )
        paths = [
            p
            for p in (
                "summary",
                "description",
                "priority",
                "assignee",
                "contact",
                "parent",
                "tags",
                "due_date",
            )
            if _has(ticket, p)
        ]
        fields = self._fields_for(ticket, paths)
        fields |= {"project": {"key": project}, "issuetype": {"name": issue_type}}
        fields |= await self._custom_values(project, _plain(ticket.custom_fields))
        created = (await self.http.request("POST", f"{API}/issue", json={"fields": fields})).json()
        key = str(created["key"])
        if ticket.status:
            await self._transition(key, ticket.status)
        return await self.get_ticket(key)

    async def get_ticket(self, ticket_id: str) -> ticket_pb2.Ticket:
        issue = await self.http.request("GET", f"{API}/issue/{_seg(ticket_id)}")
        return await self._ticket(issue.json())

    async def patch_ticket(
        self, ticket: ticket_pb2.Ticket, paths: Sequence[str]
    ) -> ticket_pb2.Ticket:
        if "project" in paths:
            raise InvalidArgument("moving a Jira issue to another project is not supported")
        current = await self.get_ticket(ticket.id)
        fields = self._fields_for(ticket, paths)
        custom_paths = [p for p in paths if p.startswith("custom_fields")]
        if custom_paths:
            wanted = _plain(ticket.custom_fields)
            values: dict[str, Any] = {}
            for path in custom_paths:
                _, _, name = path.partition(".")
                if name:
                    values[name] = wanted.get(name)
                else:
                    values |= {n: None for n in _plain(current.custom_fields)} | wanted
            fields |= await self._custom_values(current.project, values)
        if fields:
            await self.http.request(
                "PUT", f"{API}/issue/{_seg(ticket.id)}", json={"fields": fields}
            )
        if "status" in paths and ticket.status != current.status:
            await self._transition(ticket.id, ticket.status)
        return await self.get_ticket(ticket.id)

    async def _transition(self, key: str, status: str) -> None:
        path = f"{API}/issue/{_seg(key)}/transitions"
        transitions = (await self.http.request("GET", path)).json().get("transitions", [])
        for transition in transitions:
            target = (transition.get("to") or {}).get("name") or transition.get("name")
            if str(target).casefold() == status.casefold():
                await self.http.request("POST", path, json={"transition": {"id": transition["id"]}})
                return
        reachable = sorted({str((t.get("to") or {}).get("name")) for t in transitions})
        raise InvalidArgument(
            f"no Jira transition of {key} reaches status {status!r}; "
            f"reachable: {', '.join(reachable) or 'none'}",
            reason="NO_TRANSITION",
        )

    async def query_tickets(
        self, query: Query, page: Page
    ) -> AsyncIterator[tuple[ticket_pb2.Ticket, Cursor]]:
        jql = to_jql(
            query, custom_fields=await self._all_custom_ids(), priority_overrides=self.priorities
        )
        size = min(page.size_hint or page.limit or SEARCH_PAGE, SEARCH_PAGE)

        async def fetch(token: Any) -> tuple[list[Any], Any]:
            body: dict[str, Any] = {"jql": jql, "maxResults": size, "fields": ["*all"]}
            if token:
                body["nextPageToken"] = token
            result = (await self.http.request("POST", f"{API}/search/jql", json=body)).json()
            token = None if result.get("isLast", True) else result.get("nextPageToken")
            return list(result.get("issues") or []), token

        async for issue, cursor in paginate(fetch, page.after):
            yield await self._ticket(issue), cursor

    # Comments

    async def create_comment(self, comment: ticket_pb2.Comment) -> ticket_pb2.Comment:
        path = f"{API}/issue/{_seg(comment.ticket_id)}/comment"
        body = {"body": markdown_to_adf(comment.content)}
        created = (await self.http.request("POST", path, json=body)).json()
        return comment_from_jira(created, comment.ticket_id)

    async def delete_comment(self, ticket_id: str, comment_id: str) -> None:
        await self.http.request(
            "DELETE", f"{API}/issue/{_seg(ticket_id)}/comment/{_seg(comment_id)}"
        )

    async def list_comments(
        self, ticket_id: str, page: Page
    ) -> AsyncIterator[tuple[ticket_pb2.Comment, Cursor]]:
        fetch = self._offset_pages(
            f"{API}/issue/{_seg(ticket_id)}/comment",
            ("comments",),
            min(page.size_hint or LIST_PAGE, LIST_PAGE),
            {"orderBy": "created"},
        )
        async for item, cursor in paginate(fetch, page.after):
            yield comment_from_jira(item, ticket_id), cursor

    # Attachments

    async def create_attachment(
        self, metadata: ticketing_pb2.CreateAttachmentMetadata, chunks: AsyncIterator[bytes]
    ) -> ticket_pb2.AttachmentMetadata:
        form = aiohttp.FormData()
        form.add_field(
            "file",
            chunks,
            filename=metadata.file_name,
            content_type=metadata.file_type or "application/octet-stream",
        )
        response = await self.http.request(
            "POST",
            f"{API}/issue/{_seg(metadata.ticket_id)}/attachments",
            data=form,
            headers={"X-Atlassian-Token": "no-check"},
        )
        created = response.json()
        if not created:
            raise InvalidArgument("Jira stored no attachment")
        return attachment_from_jira(created[0], metadata.ticket_id)

    async def _attachment(
        self, ticket_id: str, attachment_id: str
    ) -> ticket_pb2.AttachmentMetadata:
        issue = await self.http.request(
            "GET", f"{API}/issue/{_seg(ticket_id)}", params={"fields": "attachment"}
        )
        for item in (issue.json().get("fields") or {}).get("attachment") or []:
            if str(item.get("id")) == attachment_id:
                return attachment_from_jira(item, ticket_id)
        raise NotFound(
            f"attachment {attachment_id!r} not found on ticket {ticket_id!r}",
            metadata={"provider": self.id},
        )

    async def download_attachment(
        self, ticket_id: str, attachment_id: str
    ) -> tuple[ticket_pb2.AttachmentMetadata, AsyncIterator[bytes]]:
        metadata = await self._attachment(ticket_id, attachment_id)

        async def content() -> AsyncIterator[bytes]:
            async with self.http.stream(
                "GET", f"{API}/attachment/content/{_seg(attachment_id)}"
            ) as response:
                async for chunk in response.content.iter_chunked(CHUNK):
                    yield chunk

        return metadata, content()

    async def delete_attachment(self, ticket_id: str, attachment_id: str) -> None:
        await self._attachment(ticket_id, attachment_id)
        await self.http.request("DELETE", f"{API}/attachment/{_seg(attachment_id)}")

    async def list_attachments_metadata(
        self, ticket_id: str
    ) -> AsyncIterator[ticket_pb2.AttachmentMetadata]:
        issue = await self.http.request(
            "GET", f"{API}/issue/{_seg(ticket_id)}", params={"fields": "attachment"}
        )
        for item in (issue.json().get("fields") or {}).get("attachment") or []:
            yield attachment_from_jira(item, ticket_id)

    # Projects and fields

    async def list_projects(self, page: Page) -> AsyncIterator[tuple[ticket_pb2.Project, Cursor]]:
        fetch = self._offset_pages(
            f"{API}/project/search", ("values",), min(page.size_hint or LIST_PAGE, LIST_PAGE)
        )
        async for item, cursor in paginate(fetch, page.after):
            yield project_from_jira(item), cursor

    async def list_remote_fields(self, project_id: str) -> AsyncIterator[ticket_pb2.RemoteField]:
        if not project_id:
            for field in (await self._field_list(refresh=True)).values():
                yield _remote_field(field, "")
            return
        base = f"{API}/issue/createmeta/{_seg(project_id)}/issuetypes"
        types = self._offset_pages(base, ("issueTypes", "createMetaIssueType"), LIST_PAGE)
        seen: set[str] = set()
        async for issue_type, _ in paginate(types):
            type_path = f"{base}/{_seg(str(issue_type['id']))}"
            fetch_fields = self._offset_pages(type_path, ("fields", "results"), LIST_PAGE)
            async for field, _ in paginate(fetch_fields):
                field_id = str(field.get("fieldId") or field.get("key"))
                if field_id not in seen:
                    seen.add(field_id)
                    yield _remote_field(field, project_id)


def _remote_field(field: Mapping[str, Any], project_id: str) -> ticket_pb2.RemoteField:
    schema = field.get("schema") or {}
    field_id = str(field.get("fieldId") or field.get("id") or field.get("key") or "")
    custom = bool(schema.get("custom")) or field_id.startswith("customfield_")
    if not custom:
        scope = ticket_pb2.REMOTE_FIELD_SCOPE_STANDARD
    elif project_id:
        scope = ticket_pb2.REMOTE_FIELD_SCOPE_PROJECT_CUSTOM
    else:
        scope = ticket_pb2.REMOTE_FIELD_SCOPE_INTEGRATION_CUSTOM
    kind = str(schema.get("type", ""))
    allowed = [
        ticket_pb2.OptionValue(
            value=str(v.get("id") or v.get("value") or v.get("name") or ""),
            display_name=str(v.get("value") or v.get("name") or ""),
        )
        for v in field.get("allowedValues") or []
        if isinstance(v, Mapping)
    ]
    if allowed:
        field_type = ticket_pb2.REMOTE_FIELD_TYPE_ENUM
    elif kind == "number":
        field_type = ticket_pb2.REMOTE_FIELD_TYPE_NUMBER
    elif kind == "string":
        field_type = ticket_pb2.REMOTE_FIELD_TYPE_STRING
    else:
        field_type = ticket_pb2.REMOTE_FIELD_TYPE_OTHER
    return ticket_pb2.RemoteField(
        field_id=field_id,
        field_scope=scope,
        provider_field_name=str(field.get("name", "")),
        provider_field_path=field_id,
        project_id=project_id,
        schema=ticket_pb2.RemoteFieldSchema(
            field_type=field_type,
            provider_type=str(schema.get("custom") or kind),
            enum_values=[o.display_name for o in allowed],
            enum_option_values=allowed,
        ),
    )


def _seg(value: str) -> str:
    return urlquote(value, safe="")


def _has(ticket: ticket_pb2.Ticket, path: str) -> bool:
    if path == "due_date":
        return ticket.HasField("due_date")
    if path == "tags":
        return bool(ticket.tags)
    if path == "priority":
        return ticket.priority != ticket_pb2.PRIORITY_UNSPECIFIED
    return bool(getattr(ticket, path))


def _plain(struct: Any) -> dict[str, Any]:
    return dict(json_format.MessageToDict(struct))
