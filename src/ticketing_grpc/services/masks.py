"""update_mask paths of the common model: which exist, which are writable."""

from __future__ import annotations

from collections.abc import Iterable

from google.protobuf import field_mask_pb2

from ..errors import InvalidArgument

TICKET_WRITABLE = (
    "summary",
    "creator",
    "assignee",
    "contact",
    "description",
    "priority",
    "due_date",
    "completion_date",
    "status",
    "project",
    "issue_type",
    "parent",
    "tags",
    "custom_fields",
)
TICKET_OUTPUT_ONLY = ("id", "attachments", "unmapped", "created_at", "updated_at", "url")
NOTE_WRITABLE = ("title", "content")
NOTE_OUTPUT_ONLY = (
    "id",
    "ticket_id",
    "creator",
    "created_at",
    "updated_at",
    "custom_fields",
    "unmapped",
)
MAP_FIELDS = frozenset({"custom_fields"})


def resolve(
    mask: field_mask_pb2.FieldMask,
    writable: Iterable[str],
    output_only: Iterable[str],
    what: str,
) -> list[str]:
    """The mask's paths, `*` expanded; INVALID_ARGUMENT for any path that cannot be written."""
    writable = tuple(writable)
    paths = list(dict.fromkeys(p.strip() for p in mask.paths))
    if not paths:
        raise InvalidArgument("update_mask is required; use '*' to change every writable field")
    if "*" in paths:
        if len(paths) > 1:
            raise InvalidArgument("update_mask '*' cannot be combined with other paths")
        return list(writable)
    for path in paths:
        head, dot, rest = path.partition(".")
        if head in output_only:
            raise InvalidArgument(f"update_mask path {path!r}: {what}.{head} is output only")
        if head not in writable or (dot and (head not in MAP_FIELDS or not rest)):
            hint = " and custom_fields.<name>" if "custom_fields" in writable else ""
            raise InvalidArgument(
                f"update_mask path {path!r} does not exist on {what}; "
                f"writable: {', '.join(writable)}{hint}"
            )
    return paths
