"""The filter AST translated to JQL, including Jira's traps."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ticketing_grpc.providers.jira_jql import TICKET_SCHEMA, quote, to_jql
from ticketing_grpc.providers.jira_mapping import parse_timestamp
from ticketing_grpc.query import FieldSpec, FieldType, QueryError, parse_query

SCHEMA = TICKET_SCHEMA.with_fields([FieldSpec("custom_fields.effort", FieldType.ANY)])


def jql(*filters: str, order: tuple[str, ...] = (), **kw: object) -> str:
    query = parse_query(filters, order, SCHEMA)
    return to_jql(query, custom_fields={"effort": "customfield_10010"}, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ((), "project IS NOT EMPTY"),
        (("project=OPS",), 'project = "OPS"'),
        (("id[in]OPS-1,OPS-2",), 'key in ("OPS-1", "OPS-2")'),
        (("summary[like]disk full",), 'summary ~ "disk full"'),
        (("summary[not like]disk",), '(summary !~ "disk" OR summary IS EMPTY)'),
        (("status[neq]Done",), '(status != "Done" OR status IS EMPTY)'),
        (("tags[not in]a,b",), '(labels not in ("a", "b") OR labels IS EMPTY)'),
        (("priority=high",), 'priority = "High"'),
        (("priority[in]URGENT,LOW",), 'priority in ("Highest", "Low")'),
        (("contact=abc",), 'reporter = "abc"'),
        (("created_at[gte]2024-09-30T12:26:00Z",), 'created >= "2024-09-30 12:26"'),
        (("custom_fields.effort[gt]3",), 'cf[10010] > "3"'),
        (('summary[like]say "hi" \\ bye',), 'summary ~ "say \\"hi\\" \\\\ bye"'),
        (("project=OPS", "assignee=me"), 'project = "OPS" AND assignee = "me"'),
    ],
)
def test_filters(filters: tuple[str, ...], expected: str) -> None:
    assert jql(*filters) == expected


def test_order_and_priority_overrides() -> None:
    assert (
        jql("priority=URGENT", order=("priority[desc]", "created_at"), priority_overrides={"P1": 1})
        == 'priority = "P1" ORDER BY priority DESC, created ASC'
    )


@pytest.mark.parametrize("text", ["summary=x", "priority[gt]HIGH", "tags[like]x", "color=red"])
def test_filters_jira_cannot_express_are_refused(text: str) -> None:
    with pytest.raises(QueryError):
        parse_query([text], [], SCHEMA)


def test_quote_escapes_backslash_before_quote() -> None:
    assert quote('a\\"b') == '"a\\\\\\"b"'


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-09-30T12:26:34.123+0000", datetime(2024, 9, 30, 12, 26, 34, 123000, UTC)),
        ("2024-09-30T12:26:34.123+0700", datetime(2024, 9, 30, 5, 26, 34, 123000, UTC)),
        ("2024-09-30T12:26:34.123-05:30", datetime(2024, 9, 30, 17, 56, 34, 123000, UTC)),
        ("2024-09-30", datetime(2024, 9, 30, tzinfo=UTC)),
        ("garbage", None),
        ("", None),
    ],
)
def test_jira_timestamps(text: str, expected: datetime | None) -> None:
    assert parse_timestamp(text) == expected
