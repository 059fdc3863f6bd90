"""TicketingService: check the operator is supported, validate, dispatch to
the integration's provider, stream lists with limits and resume tokens."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from typing import TypeVar

from google.protobuf import empty_pb2
from ticketing.v1 import ticket_pb2, ticketing_pb2, ticketing_pb2_grpc

from .. import resume
from ..errors import InvalidArgument
from ..interceptor import current_handle
from ..providers.base import Cursor, Page, Provider
from ..query import Query, QueryError, parse_query
from . import Context, masks

T = TypeVar("T")
R = TypeVar("R")

_PRIORITIES = frozenset(ticket_pb2.Priority.values())
_PRIORITY_NAMES = ", ".join(ticket_pb2.Priority.keys()[1:])


def _supporting(operator: str) -> Provider:
    """The caller's provider; UNIMPLEMENTED when it lacks the operator (before any validation)."""
    handle = current_handle()
    provider = handle.provider()
    if operator not in handle.operators:
        raise provider.unsupported(operator)
    return provider


def _required(value: str, name: str) -> str:
    if not value.strip():
        raise InvalidArgument(f"{name} is required")
    return value


def _parse(
    provider: Provider, operator: str, filters: Sequence[str], order: Sequence[str]
) -> Query:
    try:
        return parse_query(filters, order, provider.filter_schema(operator))
    except QueryError as error:
        raise InvalidArgument(str(error), reason="INVALID_FILTER") from None


def _check_ticket(ticket: ticket_pb2.Ticket) -> None:
    if ticket.priority not in _PRIORITIES:
        raise InvalidArgument(
            f"ticket.priority {ticket.priority} is not a known Priority; use one of "
            + _PRIORITY_NAMES
        )
    if any(not tag.strip() for tag in ticket.tags):
        raise InvalidArgument("ticket.tags must not contain empty tags")


def _check_page(limit: int, size_hint: int = 0) -> None:
    if limit < 0:
        raise InvalidArgument("limit must be 0 (no cap) or positive")
    if size_hint < 0:
        raise InvalidArgument("page_size_hint must be 0 or positive")


async def _capped(items: AsyncIterator[T], limit: int) -> AsyncIterator[T]:
    """At most `limit` items (0 = all); the source is closed as soon as we stop."""
    sent = 0
    try:
        async for item in items:
            yield item
            sent += 1
            if limit and sent >= limit:
                return
    finally:
        close = getattr(items, "aclose", None)
        if close is not None:
            await close()


class TicketingServicer(ticketing_pb2_grpc.TicketingServiceServicer):
    def __init__(self, tokens: resume.ResumeTokens) -> None:
        self._tokens = tokens

    def _page(self, scope: bytes, token: str, limit: int, size_hint: int) -> Page:
        _check_page(limit, size_hint)
        return Page(after=self._tokens.open(token, scope), size_hint=size_hint, limit=limit)

    async def _resumable(
        self,
        scope: bytes,
        items: AsyncIterator[tuple[T, Cursor]],
        limit: int,
        wrap: Callable[[T, str], R],
    ) -> AsyncIterator[R]:
        async for item, cursor in _capped(items, limit):
            yield wrap(item, self._tokens.issue(scope, cursor))

    @staticmethod
    def _scope(operator: str, *parts: str) -> bytes:
        return resume.scope(current_handle().id, operator, *parts)

    # Attachments

    async def CreateAttachment(
        self,
        request_iterator: AsyncIterator[ticketing_pb2.CreateAttachmentRequest],
        context: Context,
    ) -> ticket_pb2.AttachmentMetadata:
        provider = _supporting("create_attachment")
        requests = aiter(request_iterator)
        first = await anext(requests, None)
        if first is None or first.WhichOneof("payload") != "metadata":
            raise InvalidArgument("the first CreateAttachment message must carry metadata")
        metadata = first.metadata
        _required(metadata.ticket_id, "metadata.ticket_id")
        _required(metadata.file_name, "metadata.file_name")

        async def chunks() -> AsyncIterator[bytes]:
            async for message in requests:
                if message.WhichOneof("payload") != "chunk":
                    raise InvalidArgument(
                        "only the first CreateAttachment message carries metadata"
                    )
                yield message.chunk

        return await provider.create_attachment(metadata, chunks())

    async def DeleteAttachment(
        self, request: ticketing_pb2.DeleteAttachmentRequest, context: Context
    ) -> empty_pb2.Empty:
        provider = _supporting("delete_attachment")
        await provider.delete_attachment(
            _required(request.ticket_id, "ticket_id"),
            _required(request.attachment_id, "attachment_id"),
        )
        return empty_pb2.Empty()

    async def DownloadAttachment(
        self, request: ticketing_pb2.DownloadAttachmentRequest, context: Context
    ) -> AsyncIterator[ticketing_pb2.DownloadAttachmentResponse]:
        provider = _supporting("download_attachment")
        metadata, chunks = await provider.download_attachment(
            _required(request.ticket_id, "ticket_id"),
            _required(request.attachment_id, "attachment_id"),
        )
        yield ticketing_pb2.DownloadAttachmentResponse(metadata=metadata)
        async for chunk in _capped(chunks, 0):
            yield ticketing_pb2.DownloadAttachmentResponse(chunk=chunk)

    async def ListAttachmentsMetadata(
        self, request: ticketing_pb2.ListAttachmentsMetadataRequest, context: Context
    ) -> AsyncIterator[ticketing_pb2.ListAttachmentsMetadataResponse]:
        provider = _supporting("list_attachments_metadata")
        items = provider.list_attachments_metadata(_required(request.ticket_id, "ticket_id"))
        async for item in _capped(items, 0):
            yield ticketing_pb2.ListAttachmentsMetadataResponse(attachment=item)

    # Comments

    async def CreateComment(
        self, request: ticketing_pb2.CreateCommentRequest, context: Context
    ) -> ticket_pb2.Comment:
        provider = _supporting("create_comment")
        _required(request.comment.ticket_id, "comment.ticket_id")
        _required(request.comment.content, "comment.content")
        return await provider.create_comment(request.comment)

    async def DeleteComment(
        self, request: ticketing_pb2.DeleteCommentRequest, context: Context
    ) -> empty_pb2.Empty:
        provider = _supporting("delete_comment")
        await provider.delete_comment(
            _required(request.ticket_id, "ticket_id"), _required(request.comment_id, "comment_id")
        )
        return empty_pb2.Empty()

    async def ListComments(
        self, request: ticketing_pb2.ListCommentsRequest, context: Context
    ) -> AsyncIterator[ticketing_pb2.ListCommentsResponse]:
        provider = _supporting("list_comments")
        ticket_id = _required(request.ticket_id, "ticket_id")
        scope = self._scope("list_comments", ticket_id)
        page = self._page(scope, request.resume_token, request.limit, request.page_size_hint)
        async for out in self._resumable(
            scope,
            provider.list_comments(ticket_id, page),
            request.limit,
            lambda c, t: ticketing_pb2.ListCommentsResponse(comment=c, resume_token=t),
        ):
            yield out

    # Escalation policies and on-call

    async def QueryEscalationPolicies(
        self, request: ticketing_pb2.QueryEscalationPoliciesRequest, context: Context
    ) -> AsyncIterator[ticketing_pb2.QueryEscalationPoliciesResponse]:
        provider = _supporting("query_escalation_policies")
        query = _parse(provider, "query_escalation_policies", request.filter, request.order)
        scope = self._scope("query_escalation_policies", *request.filter, "\0", *request.order)
        page = self._page(scope, request.resume_token, request.limit, request.page_size_hint)
        async for out in self._resumable(
            scope,
            provider.query_escalation_policies(query, page),
            request.limit,
            lambda p, t: ticketing_pb2.QueryEscalationPoliciesResponse(
                escalation_policy=p, resume_token=t
            ),
        ):
            yield out

    async def ListOnCall(
        self, request: ticketing_pb2.ListOnCallRequest, context: Context
    ) -> AsyncIterator[ticketing_pb2.ListOnCallResponse]:
        provider = _supporting("list_on_call")
        query = _parse(provider, "list_on_call", request.filter, ())
        _check_page(request.limit)
        items = provider.list_on_call(query, Page(limit=request.limit))
        async for item in _capped(items, request.limit):
            yield ticketing_pb2.ListOnCallResponse(on_call=item)

    # Notes

    async def CreateNote(
        self, request: ticketing_pb2.CreateNoteRequest, context: Context
    ) -> ticket_pb2.Note:
        provider = _supporting("create_note")
        _required(request.note.ticket_id, "note.ticket_id")
        _required(request.note.content, "note.content")
        return await provider.create_note(request.note)

    async def DeleteNote(
        self, request: ticketing_pb2.DeleteNoteRequest, context: Context
    ) -> empty_pb2.Empty:
        provider = _supporting("delete_note")
        await provider.delete_note(
            _required(request.ticket_id, "ticket_id"), _required(request.note_id, "note_id")
        )
        return empty_pb2.Empty()

    async def PatchNote(
        self, request: ticketing_pb2.PatchNoteRequest, context: Context
    ) -> ticket_pb2.Note:
        provider = _supporting("patch_note")
        _required(request.note.ticket_id, "note.ticket_id")
        _required(request.note.id, "note.id")
        paths = masks.resolve(
            request.update_mask, masks.NOTE_WRITABLE, masks.NOTE_OUTPUT_ONLY, "Note"
        )
        if "content" in paths:
            _required(request.note.content, "note.content")
        return await provider.patch_note(request.note, paths)

    async def ListNotes(
        self, request: ticketing_pb2.ListNotesRequest, context: Context
    ) -> AsyncIterator[ticketing_pb2.ListNotesResponse]:
        provider = _supporting("list_notes")
        ticket_id = _required(request.ticket_id, "ticket_id")
        scope = self._scope("list_notes", ticket_id)
        page = self._page(scope, request.resume_token, request.limit, request.page_size_hint)
        async for out in self._resumable(
            scope,
            provider.list_notes(ticket_id, page),
            request.limit,
            lambda n, t: ticketing_pb2.ListNotesResponse(note=n, resume_token=t),
        ):
            yield out

    # Projects and fields

    async def ListProjects(
        self, request: ticketing_pb2.ListProjectsRequest, context: Context
    ) -> AsyncIterator[ticketing_pb2.ListProjectsResponse]:
        provider = _supporting("list_projects")
        scope = self._scope("list_projects")
        page = self._page(scope, request.resume_token, request.limit, request.page_size_hint)
        async for out in self._resumable(
            scope,
            provider.list_projects(page),
            request.limit,
            lambda p, t: ticketing_pb2.ListProjectsResponse(project=p, resume_token=t),
        ):
            yield out

    async def ListRemoteFields(
        self, request: ticketing_pb2.ListRemoteFieldsRequest, context: Context
    ) -> AsyncIterator[ticketing_pb2.ListRemoteFieldsResponse]:
        provider = _supporting("list_remote_fields")
        async for item in _capped(provider.list_remote_fields(request.project_id), 0):
            yield ticketing_pb2.ListRemoteFieldsResponse(remote_field=item)

    # Tickets

    async def CreateTicket(
        self, request: ticketing_pb2.CreateTicketRequest, context: Context
    ) -> ticket_pb2.Ticket:
        provider = _supporting("create_ticket")
        _required(request.ticket.summary, "ticket.summary")
        _check_ticket(request.ticket)
        return await provider.create_ticket(request.ticket)

    async def GetTicket(
        self, request: ticketing_pb2.GetTicketRequest, context: Context
    ) -> ticket_pb2.Ticket:
        provider = _supporting("get_ticket")
        return await provider.get_ticket(_required(request.ticket_id, "ticket_id"))

    async def PatchTicket(
        self, request: ticketing_pb2.PatchTicketRequest, context: Context
    ) -> ticket_pb2.Ticket:
        provider = _supporting("patch_ticket")
        _required(request.ticket.id, "ticket.id")
        paths = masks.resolve(
            request.update_mask, masks.TICKET_WRITABLE, masks.TICKET_OUTPUT_ONLY, "Ticket"
        )
        if "summary" in paths:
            _required(request.ticket.summary, "ticket.summary")
        _check_ticket(request.ticket)
        return await provider.patch_ticket(request.ticket, paths)

    async def QueryTickets(
        self, request: ticketing_pb2.QueryTicketsRequest, context: Context
    ) -> AsyncIterator[ticketing_pb2.QueryTicketsResponse]:
        provider = _supporting("query_tickets")
        query = _parse(provider, "query_tickets", request.filter, request.order)
        scope = self._scope("query_tickets", *request.filter, "\0", *request.order)
        page = self._page(scope, request.resume_token, request.limit, request.page_size_hint)
        async for out in self._resumable(
            scope,
            provider.query_tickets(query, page),
            request.limit,
            lambda tk, t: ticketing_pb2.QueryTicketsResponse(ticket=tk, resume_token=t),
        ):
            yield out
