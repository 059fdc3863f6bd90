"""ticketing_mock_ticketing: the embedded provider, with no network.

Its data lives in the store, per integration, so it survives restarts. It
behaves like a small real provider: ids it assigns (`<PROJECT>-<n>`), custom
fields kept under their provider_field_path and mapped back per project,
filters and ordering, and one event per successful mutating call.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from google.protobuf import json_format
from ticketing.v1 import events_pb2, ticket_pb2

from ..errors import InvalidArgument, NotFound
from ..events.sink import NewEvent
from ..matching import apply, sort_key
from ..priorities import BY_URGENCY
from ..query import FieldSpec, FieldType, Op, Query, QuerySchema, field
from .base import Cursor, Page, Provider

TICKET, COMMENT, NOTE = "ticket", "comment", "note"
PRIORITY_ORDER = BY_URGENCY

TICKET_SCHEMA = QuerySchema.of(
    *(
        field(name, FieldType.STRING)
        for name in (
            "id",
            "summary",
            "description",
            "status",
            "project",
            "issue_type",
            "assignee",
            "creator",
            "contact",
        )
    ),
    field("priority", FieldType.ENUM, enum_values=PRIORITY_ORDER),
    field("tags", FieldType.LIST, ops={Op.EQ, Op.NEQ, Op.IN, Op.NOT_IN, Op.LIKE, Op.NOT_LIKE}),
    *(field(name, FieldType.DATETIME) for name in ("created_at", "updated_at", "due_date")),
)

_SEQ = "_seq"
_FIELDS = "fields"


def _now() -> str:
    now = datetime.now(UTC)
    return (
        now.replace(microsecond=now.microsecond // 1000 * 1000).isoformat().replace("+00:00", "Z")
    )


def _dump(message: Any) -> dict[str, Any]:
    return json_format.MessageToDict(message, preserving_proto_field_name=True)


class MockProvider(Provider):
    id = "ticketing_mock_ticketing"
    display_name = "Mock ticketing (embedded test provider)"
    filter_schemas = {"query_tickets": TICKET_SCHEMA}

    @property
    def _iid(self) -> str:
        return self.context.integration_id

    @property
    def _default_project(self) -> str:
        return str(self.context.integration.mock.default_project)

    def filter_schema(self, operator: str) -> QuerySchema:
        schema = super().filter_schema(operator)
        if operator != "query_tickets":
            return schema
        custom = (
            FieldSpec(f"custom_fields.{name}", FieldType.ANY)
            for name in sorted(self.context.custom_fields.names())
        )
        return schema.with_fields(custom)

    # Model <-> stored document

    def _custom_to_provider(self, project: str, values: Mapping[str, Any]) -> dict[str, Any]:
        mapping = self.context.custom_fields.for_project(project)
        unknown = sorted(set(values) - set(mapping))
        if unknown:
            mapped = ", ".join(sorted(mapping)) or "none"
            raise InvalidArgument(
                f"custom field {unknown[0]!r} is not mapped for project {project!r} "
                f"(mapped: {mapped})",
                reason="UNMAPPED_CUSTOM_FIELD",
            )
        return {mapping[name]: value for name, value in values.items()}

    def _ticket(self, doc: Mapping[str, Any]) -> ticket_pb2.Ticket:
        model = {k: v for k, v in doc.items() if k not in (_SEQ, _FIELDS)}
        ticket = json_format.ParseDict(model, ticket_pb2.Ticket())
        stored = dict(doc.get(_FIELDS, {}))
        for name, path in self.context.custom_fields.for_project(ticket.project).items():
            if path in stored:
                ticket.custom_fields[name] = stored.pop(path)
        if stored:
            ticket.unmapped.update({_FIELDS: stored})
        ticket.url = f"mock://{self._iid}/tickets/{ticket.id}"
        return ticket

    async def _doc(self, kind: str, doc_id: str) -> dict[str, Any]:
        doc = await self.context.store.get_document(self._iid, kind, doc_id)
        if doc is None:
            raise NotFound(f"{kind} {doc_id!r} not found", metadata={"provider": self.id})
        return doc

    async def _emit(
        self, event_type: int, ticket: Mapping[str, Any], entity_date: str, raw: Any
    ) -> None:
        await self.context.events.emit(
            NewEvent(
                integration_id=self._iid,
                event_type=event_type,
                ticket_id=str(ticket["id"]),
                entity_date=entity_date,
                priority=ticket_pb2.Priority.Value(ticket.get("priority", "PRIORITY_UNSPECIFIED")),
                short_description=str(ticket.get("summary", "")),
                raw_payload=json.dumps(raw, separators=(",", ":")).encode(),
            )
        )

    # Tickets

    async def create_ticket(self, ticket: ticket_pb2.Ticket) -> ticket_pb2.Ticket:
        project = ticket.project or self._default_project
        if not project:
            raise InvalidArgument(
                "ticket.project is required: this integration has no default_project"
            )
        fields = self._custom_to_provider(project, _dump(ticket.custom_fields))
        model = ticket_pb2.Ticket()
        model.CopyFrom(ticket)
        for name in ("custom_fields", "unmapped", "attachments", "url"):
            model.ClearField(name)
        seq = await self.context.store.next_counter(self._iid, TICKET)
        now = _now()
        doc = _dump(model) | {
            "id": f"{project}-{seq}",
            "project": project,
            "status": ticket.status or "Open",
            "created_at": now,
            "updated_at": now,
            _SEQ: seq,
            _FIELDS: fields,
        }
        await self.context.store.put_document(self._iid, TICKET, doc["id"], "", doc)
        await self._emit(events_pb2.TICKET_CREATED, doc, now, doc)
        return self._ticket(doc)

    async def get_ticket(self, ticket_id: str) -> ticket_pb2.Ticket:
        return self._ticket(await self._doc(TICKET, ticket_id))

    async def patch_ticket(
        self, ticket: ticket_pb2.Ticket, paths: Sequence[str]
    ) -> ticket_pb2.Ticket:
        doc = await self._doc(TICKET, ticket.id)
        current = self._ticket(doc)
        change = _dump(ticket)
        custom = _dump(current.custom_fields)
        for path in paths:
            head, _, name = path.partition(".")
            if head == "custom_fields":
                requested = change.get("custom_fields", {})
                if not name:
                    custom = dict(requested)
                elif name in requested:
                    custom[name] = requested[name]
                else:
                    custom.pop(name, None)
            elif head == "project" and not ticket.project:
                raise InvalidArgument("ticket.project cannot be cleared")
            elif head in change:
                doc[head] = change[head]
            else:
                doc.pop(head, None)
        doc[_FIELDS] = {
            path: value
            for path, value in doc.get(_FIELDS, {}).items()
            if path not in self.context.custom_fields.for_project(current.project).values()
        } | self._custom_to_provider(doc["project"], custom)
        doc["updated_at"] = _now()
        await self.context.store.put_document(self._iid, TICKET, ticket.id, "", doc)
        await self._emit(events_pb2.TICKET_UPDATED, doc, doc["updated_at"], doc)
        return self._ticket(doc)

    async def query_tickets(
        self, query: Query, page: Page
    ) -> AsyncIterator[tuple[ticket_pb2.Ticket, Cursor]]:
        schema = self.filter_schema("query_tickets")
        records = []
        for doc in await self.context.store.list_documents(self._iid, TICKET):
            ticket = self._ticket(doc)
            records.append(_dump(ticket) | {_SEQ: doc[_SEQ], "_ticket": ticket})
        after = tuple(page.after) if page.after is not None else None
        for record in apply(query, records, schema, id_field=_SEQ, after=after):
            yield record["_ticket"], list(sort_key(query, record, schema, id_field=_SEQ))

    # Comments

    async def create_comment(self, comment: ticket_pb2.Comment) -> ticket_pb2.Comment:
        ticket = await self._doc(TICKET, comment.ticket_id)
        if comment.HasField("custom_fields") and comment.custom_fields.fields:
            raise InvalidArgument("the mock provider has no custom fields on comments")
        seq = await self.context.store.next_counter(self._iid, COMMENT)
        now = _now()
        doc = {
            "id": str(seq),
            "ticket_id": comment.ticket_id,
            "creator": comment.creator or "mock-user",
            "content": comment.content,
            "created_at": now,
            "updated_at": now,
        }
        await self.context.store.put_document(self._iid, COMMENT, doc["id"], ticket["id"], doc)
        await self._emit(events_pb2.TICKET_COMMENT_CREATED, ticket, now, doc)
        return json_format.ParseDict(doc, ticket_pb2.Comment())

    async def delete_comment(self, ticket_id: str, comment_id: str) -> None:
        ticket = await self._doc(TICKET, ticket_id)
        comment = await self._child(COMMENT, ticket_id, comment_id)
        await self.context.store.delete_document(self._iid, COMMENT, comment_id)
        await self._emit(events_pb2.TICKET_COMMENT_DELETED, ticket, _now(), comment)

    async def list_comments(
        self, ticket_id: str, page: Page
    ) -> AsyncIterator[tuple[ticket_pb2.Comment, Cursor]]:
        async for doc, cursor in self._children(COMMENT, ticket_id, page):
            yield json_format.ParseDict(doc, ticket_pb2.Comment()), cursor

    # Notes

    async def create_note(self, note: ticket_pb2.Note) -> ticket_pb2.Note:
        ticket = await self._doc(TICKET, note.ticket_id)
        if note.HasField("custom_fields") and note.custom_fields.fields:
            raise InvalidArgument("the mock provider has no custom fields on notes")
        seq = await self.context.store.next_counter(self._iid, NOTE)
        now = _now()
        doc = {
            "id": str(seq),
            "ticket_id": note.ticket_id,
            "title": note.title,
            "content": note.content,
            "creator": note.creator or "mock-user",
            "created_at": now,
            "updated_at": now,
        }
        await self.context.store.put_document(self._iid, NOTE, doc["id"], ticket["id"], doc)
        return json_format.ParseDict(doc, ticket_pb2.Note())

    async def patch_note(self, note: ticket_pb2.Note, paths: Sequence[str]) -> ticket_pb2.Note:
        await self._doc(TICKET, note.ticket_id)
        doc = await self._child(NOTE, note.ticket_id, note.id)
        for path in paths:
            doc[path] = getattr(note, path)
        doc["updated_at"] = _now()
        await self.context.store.put_document(self._iid, NOTE, note.id, note.ticket_id, doc)
        return json_format.ParseDict(doc, ticket_pb2.Note())

    async def delete_note(self, ticket_id: str, note_id: str) -> None:
        await self._doc(TICKET, ticket_id)
        await self._child(NOTE, ticket_id, note_id)
        await self.context.store.delete_document(self._iid, NOTE, note_id)

    async def list_notes(
        self, ticket_id: str, page: Page
    ) -> AsyncIterator[tuple[ticket_pb2.Note, Cursor]]:
        async for doc, cursor in self._children(NOTE, ticket_id, page):
            yield json_format.ParseDict(doc, ticket_pb2.Note()), cursor

    async def _child(self, kind: str, ticket_id: str, doc_id: str) -> dict[str, Any]:
        doc = await self.context.store.get_document(self._iid, kind, doc_id)
        if doc is None or doc["ticket_id"] != ticket_id:
            raise NotFound(
                f"{kind} {doc_id!r} not found on ticket {ticket_id!r}",
                metadata={"provider": self.id},
            )
        return doc

    async def _children(
        self, kind: str, ticket_id: str, page: Page
    ) -> AsyncIterator[tuple[dict[str, Any], Cursor]]:
        await self._doc(TICKET, ticket_id)
        after = int(page.after) if isinstance(page.after, int) else 0
        for doc in await self.context.store.list_documents(self._iid, kind, ticket_id):
            if int(doc["id"]) > after:
                yield doc, int(doc["id"])

    # Projects

    async def list_projects(self, page: Page) -> AsyncIterator[tuple[ticket_pb2.Project, Cursor]]:
        names = {
            doc["project"] for doc in await self.context.store.list_documents(self._iid, TICKET)
        }
        if self._default_project:
            names.add(self._default_project)
        after = page.after if isinstance(page.after, str) else None
        for name in sorted(names):
            if after is None or name > after:
                yield ticket_pb2.Project(id=name, name=name), name
