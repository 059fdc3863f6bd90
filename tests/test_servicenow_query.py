"""The filter AST translated to a ServiceNow encoded query, and offset paging."""

from __future__ import annotations

from typing import Any

import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from ticketing_grpc.errors import InvalidArgument
from ticketing_grpc.providers.servicenow import next_offset, table_name
from ticketing_grpc.providers.servicenow_mapping import (
    ITSM_STATES,
    SIR_TICKET_COLUMNS,
    Choice,
)
from ticketing_grpc.providers.servicenow_query import (
    NOTHING,
    SIR_TICKET_SCHEMA,
    TICKET_SCHEMA,
    check_columns,
    columns_used,
    escape,
    split_table,
    to_encoded_query,
)
from ticketing_grpc.query import FieldSpec, FieldType, Query, QueryError, parse_query

SCHEMA = TICKET_SCHEMA.with_fields(
    [
        FieldSpec("custom_fields.effort", FieldType.ANY),
        FieldSpec("custom_fields.team", FieldType.ANY),
    ]
)
CUSTOM = {"effort": "u_effort"}
CATEGORIES = (Choice("software", "Software"), Choice("inquiry", "Inquiry / Help"))
CHOICES = {"state": ITSM_STATES, "category": CATEGORIES}
DEFAULT_ORDER = "ORDERBYsys_created_on^ORDERBYsys_id"


def parse(*filters: str, order: tuple[str, ...] = ()) -> Query:
    return parse_query(filters, order, SCHEMA)


def encoded(*filters: str, order: tuple[str, ...] = (), **kw: Any) -> str:
    return to_encoded_query(
        parse(*filters, order=order), custom_fields=CUSTOM, choices=CHOICES, **kw
    )


def where(*filters: str) -> str:
    """The conditions only (the default ordering cut off)."""
    text = encoded(*filters)
    assert text.endswith(DEFAULT_ORDER), text
    return text.removesuffix(DEFAULT_ORDER).removesuffix("^")


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ((), ""),
        (("summary=disk full",), "short_description=disk full"),
        (("id[in]a1,b2",), "sys_idINa1,b2"),
        (("id[neq]a1",), "sys_id!=a1"),  # sys_id is never empty: no ISEMPTY
        (("summary[neq]x",), "short_description!=x^ORshort_descriptionISEMPTY"),
        (("summary[not in]a,b",), "short_descriptionNOT INa,b^ORshort_descriptionISEMPTY"),
        (("summary[like]disk",), "short_descriptionLIKEdisk"),
        (("summary[like]disk*full",), "short_descriptionLIKEdisk^short_descriptionLIKEfull"),
        (("summary[like]*",), "short_descriptionISNOTEMPTY"),
        (("summary[not like]disk",), "short_descriptionNOT LIKEdisk^ORshort_descriptionISEMPTY"),
        (
            ("description[not like]a*b",),
            "descriptionNOT LIKEa^ORdescriptionNOT LIKEb^ORdescriptionISEMPTY",
        ),
        (("summary[not like]*",), "short_descriptionISEMPTY"),
        (("assignee=",), "assigned_toISEMPTY"),
        (("assignee[neq]",), "assigned_toISNOTEMPTY"),
        (("assignee=6816f79c",), "assigned_to=6816f79c"),
        (("creator[in]u1,u2",), "opened_byINu1,u2"),
        (("contact=46c6f9ef",), "caller_id=46c6f9ef"),
        (("parent[neq]p1",), "parent!=p1^ORparentISEMPTY"),
        (("custom_fields.effort[gt]3",), "u_effort>3"),
        (("custom_fields.effort[neq]3",), "u_effort!=3^ORu_effortISEMPTY"),
        (
            ("summary[neq]x", "assignee=me"),
            "short_description!=x^ORshort_descriptionISEMPTY^assigned_to=me",
        ),
    ],
)
def test_conditions(filters: tuple[str, ...], expected: str) -> None:
    assert where(*filters) == expected


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (("summary=a^b",), "short_description=a^^b"),
        (("summary[like]x^ORpriority=1",), "short_descriptionLIKEx^^ORpriority=1"),
        (("summary[in]a^NQb,c",), "short_descriptionINa^^NQb,c"),
        (("summary[not like]^",), "short_descriptionNOT LIKE^^^ORshort_descriptionISEMPTY"),
        (("custom_fields.effort=^ORDERBYx",), "u_effort=^^ORDERBYx"),
    ],
)
def test_a_caret_in_a_value_is_doubled(filters: tuple[str, ...], expected: str) -> None:
    assert where(*filters) == expected


def test_escape() -> None:
    assert escape("a^b^^c") == "a^^b^^^^c"
    assert escape("plain") == "plain"


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (("status=In Progress",), "state=2"),
        (("status=in progress",), "state=2"),
        (("status=2",), "state=2"),
        (("status[in]New,Resolved",), "stateIN1,6"),
        (("status[neq]Closed",), "state!=7^ORstateISEMPTY"),
        (("status[not in]Closed,Canceled",), "stateNOT IN7,8^ORstateISEMPTY"),
        (("issue_type=Software",), "category=software"),
        (("issue_type[in]inquiry / help,software",), "categoryINinquiry,software"),
    ],
)
def test_labels_become_choice_values(filters: tuple[str, ...], expected: str) -> None:
    assert where(*filters) == expected


def test_an_unknown_label_names_the_choices() -> None:
    with pytest.raises(InvalidArgument) as info:
        encoded("status=Done")
    assert "'Done'" in info.value.message
    assert "In Progress" in info.value.message and "Canceled" in info.value.message


def test_without_choices_a_label_is_sent_as_is() -> None:
    query = parse("issue_type=Whatever")
    assert to_encoded_query(query).startswith("category=Whatever^")


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (("priority=HIGH",), "priority=2"),
        (("priority=critical",), "priority=1"),
        (("priority[in]CRITICAL,LOW",), "priorityIN1,4"),
        (("priority[in]MODERATE,MEDIUM",), "priority=3"),
        # No code reads back as URGENT or MEDIUM: nothing has that priority.
        (("priority=URGENT",), NOTHING),
        (("priority=MEDIUM",), NOTHING),
        (("priority[neq]HIGH",), "priority!=2^ORpriorityISEMPTY"),
        (("priority[not in]HIGH,LOW",), "priorityNOT IN2,4^ORpriorityISEMPTY"),
        (("priority[neq]URGENT",), ""),
        # Ordering follows the Priority enum (URGENT first, PLANNING last).
        (("priority[gt]HIGH",), "priority=1"),
        (("priority[lte]HIGH",), "priorityIN2,3,4,5"),
        (("priority[gte]MEDIUM",), "priorityIN1,2"),
        (("priority[lt]CRITICAL",), "priorityIN2,3,4,5"),
        (("priority[gt]URGENT",), NOTHING),
        (("priority[gt]LOW",), "priorityIN1,2,3"),
    ],
)
def test_priority(filters: tuple[str, ...], expected: str) -> None:
    assert where(*filters) == expected


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (("created_at[gte]2024-09-30T12:26:00Z",), "sys_created_on>=2024-09-30 12:26:00"),
        (("created_at[lt]2024-09-30T14:26:00+02:00",), "sys_created_on<2024-09-30 12:26:00"),
        (("updated_at[gt]2024-09-30",), "sys_updated_on>2024-09-30 00:00:00"),
        (("due_date=2024-10-01T12:00:00Z",), "due_date=2024-10-01 12:00:00"),
        (("due_date[neq]2024-10-01",), "due_date!=2024-10-01 00:00:00^ORdue_dateISEMPTY"),
        (("created_at[neq]2024-10-01",), "sys_created_on!=2024-10-01 00:00:00"),
        (
            ("completion_date[in]2024-01-01,2024-01-02T03:04:05Z",),
            "closed_atIN2024-01-01 00:00:00,2024-01-02 03:04:05",
        ),
        # ServiceNow keeps whole seconds: a fraction turns into the same whole-second test.
        (("created_at[gt]2024-09-30T12:26:00.5Z",), "sys_created_on>2024-09-30 12:26:00"),
        (("created_at[gte]2024-09-30T12:26:00.5Z",), "sys_created_on>2024-09-30 12:26:00"),
        (("created_at[lt]2024-09-30T12:26:00.5Z",), "sys_created_on<=2024-09-30 12:26:00"),
        (("created_at[lte]2024-09-30T12:26:00.5Z",), "sys_created_on<=2024-09-30 12:26:00"),
        (("created_at=2024-09-30T12:26:00.5Z",), NOTHING),
        (("due_date[neq]2024-09-30T12:26:00.5Z",), ""),
        (
            ("due_date[not in]2024-09-30T12:26:00.5Z,2024-09-30",),
            "due_date!=2024-09-30 00:00:00^ORdue_dateISEMPTY",
        ),
    ],
)
def test_dates_are_utc_whole_seconds(filters: tuple[str, ...], expected: str) -> None:
    assert where(*filters) == expected


def test_ordering_lives_in_the_query_and_ends_with_sys_id() -> None:
    assert (
        encoded("summary[like]x", order=("priority[desc]", "created_at"))
        == "short_descriptionLIKEx^ORDERBYDESCpriority^ORDERBYsys_created_on^ORDERBYsys_id"
    )
    assert encoded(order=("id[desc]",)) == "ORDERBYDESCsys_id"
    assert encoded(order=("custom_fields.effort",)) == "ORDERBYu_effort^ORDERBYsys_id"
    assert encoded(order=("status",)) == "ORDERBYstate^ORDERBYsys_id"


def test_project_names_the_table() -> None:
    table, rest = split_table(parse("project=problem", "summary=x", order=("created_at",)))
    assert table == "problem"
    assert [c.field for c in rest.conditions] == ["summary"]
    assert [k.field for k in rest.order] == ["created_at"]
    assert split_table(parse("summary=x"))[0] is None
    assert split_table(parse("project=incident", "project=incident"))[0] == "incident"
    with pytest.raises(InvalidArgument, match="one table"):
        split_table(parse("project=incident", "project=problem"))
    with pytest.raises(ValueError):
        to_encoded_query(parse("project=incident"))


@pytest.mark.parametrize("text", ["project[neq]incident", "project[in]a,b", "tags=x"])
def test_project_is_eq_only_and_there_are_no_tags(text: str) -> None:
    with pytest.raises(QueryError):
        parse(text)


def test_sir_has_no_contact() -> None:
    with pytest.raises(QueryError, match="contact"):
        parse_query(["contact=abc"], [], SIR_TICKET_SCHEMA)
    query = parse_query(["status=Analysis"], [], SIR_TICKET_SCHEMA)
    sir_states = {"state": (Choice("16", "Analysis"),)}
    assert to_encoded_query(query, columns=SIR_TICKET_COLUMNS, choices=sir_states).startswith(
        "state=16^"
    )


KNOWN = {"short_description", "description", "state", "priority", "assigned_to", "u_effort"}


def test_every_column_used_must_be_in_the_dictionary() -> None:
    # sys_ columns are on every table and not checked.
    ok = encoded("summary=x", "id=a", "created_at[gt]2024-01-01", known_columns=KNOWN)
    assert ok.startswith("short_description=x^sys_id=a^")
    with pytest.raises(InvalidArgument) as info:
        encoded("summary=x", "contact=abc", known_columns=KNOWN, table="sn_si_incident")
    assert "caller_id" in info.value.message and "contact" in info.value.message
    assert "sn_si_incident" in info.value.message
    assert info.value.reason == "UNKNOWN_FIELD"
    with pytest.raises(InvalidArgument, match="category"):
        encoded(order=("issue_type",), known_columns=KNOWN)


def test_a_custom_field_column_must_exist_and_be_mapped() -> None:
    query = parse("custom_fields.effort=3")
    with pytest.raises(InvalidArgument, match="u_effrot"):
        to_encoded_query(query, custom_fields={"effort": "u_effrot"}, known_columns=KNOWN)
    with pytest.raises(InvalidArgument) as info:
        to_encoded_query(parse("custom_fields.team=ops"), custom_fields=CUSTOM)
    assert info.value.reason == "UNMAPPED_CUSTOM_FIELD"
    assert "'team'" in info.value.message


def test_columns_used_and_check_columns() -> None:
    query = parse("summary=x", "custom_fields.effort=1", order=("assignee",))
    used = columns_used(query, custom_fields=CUSTOM)
    assert used == {
        "short_description": "summary",
        "u_effort": "custom_fields.effort",
        "assigned_to": "assignee",
    }
    check_columns(used, KNOWN)
    check_columns({"sys_tags": "x"}, set())
    with pytest.raises(InvalidArgument, match="'u_effort'"):
        check_columns(used, KNOWN - {"u_effort"})


@pytest.mark.parametrize("name", ["incident", "sn_si_incident", "u_child2"])
def test_table_names(name: str) -> None:
    assert table_name(name) == name


@pytest.mark.parametrize("name", ["", "incident^active=true", "../sys_user", "a b", "x" * 81])
def test_table_names_that_could_inject_are_refused(name: str) -> None:
    with pytest.raises(InvalidArgument):
        table_name(name)


# -- paging ------------------------------------------------------------------------


def headers(**values: str) -> CIMultiDictProxy[str]:
    return CIMultiDictProxy(CIMultiDict({k.replace("_", "-"): v for k, v in values.items()}))


BASE = "https://acme.service-now.com/api/now/table/incident"


def link(*rels: tuple[int, str]) -> str:
    return ",".join(
        f'<{BASE}?sysparm_query=stateIN1,2&sysparm_offset={o}&sysparm_limit=10>;rel="{r}"'
        for o, r in rels
    )


def test_a_short_page_is_not_the_end_when_link_says_next() -> None:
    # ACLs removed 7 of the 10 records: the next page still starts at 10.
    following = link((0, "first"), (10, "next"), (90, "last"))
    assert next_offset(headers(Link=following), 0, 10, 3) == 10
    assert next_offset(headers(Link=link((0, "first"), (30, "next"))), 20, 10, 0) == 30


def test_link_as_printed_in_the_reference_without_angle_brackets() -> None:
    printed = ",".join(
        f'{BASE}?sysparm_query=stateIN1,2&sysparm_offset={o}&sysparm_limit=10>;rel="{r}"'
        for o, r in ((40, "next"), (20, "prev"), (0, "first"), (90, "last"))
    )
    assert next_offset(headers(Link=printed), 30, 10, 1) == 40
    assert next_offset(headers(Link=printed.replace('"next"', '"other"')), 30, 10, 10) is None


def test_link_without_next_is_the_end_even_after_a_full_page() -> None:
    last = link((0, "first"), (80, "prev"), (90, "last"))
    assert next_offset(headers(Link=last), 90, 10, 10) is None


def test_link_next_without_an_offset_steps_by_the_limit() -> None:
    assert next_offset(headers(Link=f'<{BASE}?sysparm_limit=10>;rel="next"'), 20, 10, 2) == 30


def test_total_count_decides_without_a_link() -> None:
    assert next_offset(headers(X_Total_Count="25"), 0, 10, 4) == 10
    assert next_offset(headers(X_Total_Count="25"), 20, 10, 5) is None
    assert next_offset(headers(X_Total_Count="20"), 10, 10, 10) is None


def test_without_headers_a_full_page_continues() -> None:
    assert next_offset(headers(), 0, 10, 10) == 10
    assert next_offset(headers(), 10, 10, 9) is None
