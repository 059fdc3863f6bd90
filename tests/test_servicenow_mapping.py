"""ServiceNow record JSON <-> the common model, journal entries, remote fields, errors."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from google.protobuf import json_format
from ticketing.v1 import ticket_pb2

from ticketing_grpc.errors import InvalidArgument
from ticketing_grpc.providers.servicenow_mapping import (
    ITSM_STATES,
    PRIORITY_IMPACT_URGENCY,
    SIR_TICKET_COLUMNS,
    Choice,
    choices_from_rows,
    comment_from_journal,
    custom_value,
    display_of,
    error_text,
    note_from_journal,
    note_text,
    priority_fields,
    record_from_ticket,
    record_url,
    remote_field,
    resolve_choice,
    same_text,
    ticket_from_record,
    value_of,
)
from ticketing_grpc.services.masks import TICKET_WRITABLE

INSTANCE = "https://acme.service-now.com"
SYS_ID = "ef43c6d40a0a0b5700c77f9bf387afe3"
BETH = "681b365ec0a80164000fb0b05854a0cd"
MAINT = "6816f79cc0a8016401c5a33be04be441"
CATEGORIES = (Choice("software", "Software"), Choice("inquiry", "Inquiry / Help"))
CHOICES = {"state": ITSM_STATES, "category": CATEGORIES}
CUSTOM = {"effort": "u_effort", "team": "u_team"}


def pair(value: str, display: str | None = None) -> dict[str, str]:
    return {"display_value": value if display is None else display, "value": value}


def reference(sys_id: str, name: str, table: str = "sys_user") -> dict[str, str]:
    link = f"{INSTANCE}/api/now/table/{table}/{sys_id}"
    return {"display_value": name, "value": sys_id, "link": link}


# An incident read with sysparm_display_value=all by a user in UTC+2 with a
# dd/MM/yyyy date format: the display values of dates are not what is stored.
RECORD: dict[str, Any] = {
    "sys_id": pair(SYS_ID),
    "number": pair("INC0000050"),
    "sys_class_name": pair("incident", "Incident"),
    "short_description": pair("Can't access Exchange server - is it down?"),
    "description": pair("Since 9:00\nno mail"),
    "priority": pair("2", "2 - High"),
    "impact": pair("1", "1 - High"),
    "urgency": pair("2", "2 - Medium"),
    "state": pair("2", "In Progress"),
    "assigned_to": reference(BETH, "Beth Anglin"),
    "opened_by": reference(MAINT, "System Administrator"),
    "caller_id": {"display_value": "", "value": ""},
    "category": pair("software", "Software"),
    "parent": "",
    "due_date": pair("2024-10-01 12:00:00", "01/10/2024 14:00:00"),
    "closed_at": pair(""),
    "sys_created_on": pair("2024-09-30 12:26:34", "30/09/2024 14:26:34"),
    "sys_updated_on": pair("2024-09-30 13:00:00", "30/09/2024 15:00:00"),
    "location": reference("108752c8", "Paris", "cmn_location"),
    "active": pair("true"),
    "comments": pair(""),
    "work_notes": pair(""),
    "comments_and_work_notes": "",
    "u_effort": pair("3"),
    "u_team": pair(""),
    "watch_list": "",
}


def ticket(**kw: Any) -> ticket_pb2.Ticket:
    defaults: dict[str, Any] = {"instance": INSTANCE, "table": "incident", "custom_fields": CUSTOM}
    return ticket_from_record(RECORD, **(defaults | kw))


def test_a_record_read_with_display_values() -> None:
    t = ticket()
    assert t.id == SYS_ID
    assert t.summary == "Can't access Exchange server - is it down?"
    assert t.description == "Since 9:00\nno mail"
    assert t.priority == ticket_pb2.HIGH
    assert t.status == "In Progress"
    assert t.issue_type == "Software"
    assert t.project == "incident"
    # People are sys_ids, not display names; an empty reference is "".
    assert (t.assignee, t.creator, t.contact, t.parent) == (BETH, MAINT, "", "")


def test_dates_come_from_the_value_not_the_users_zone() -> None:
    t = ticket()
    assert t.due_date.ToDatetime(tzinfo=UTC) == datetime(2024, 10, 1, 12, 0, tzinfo=UTC)
    assert t.created_at.ToDatetime(tzinfo=UTC) == datetime(2024, 9, 30, 12, 26, 34, tzinfo=UTC)
    assert t.updated_at.ToDatetime(tzinfo=UTC) == datetime(2024, 9, 30, 13, 0, tzinfo=UTC)
    assert not t.HasField("completion_date")


def test_url_opens_the_form_of_the_records_class() -> None:
    assert ticket().url == (f"{INSTANCE}/nav_to.do?uri=incident.do%3Fsys_id%3D{SYS_ID}")
    assert record_url(INSTANCE + "/", "u_child", "x") == (
        f"{INSTANCE}/nav_to.do?uri=u_child.do%3Fsys_id%3Dx"
    )


def test_custom_fields_are_their_columns_values() -> None:
    t = ticket()
    assert json_format.MessageToDict(t.custom_fields) == {"effort": "3"}  # u_team is empty
    assert not ticket(custom_fields={}).HasField("custom_fields")


def test_unmapped_holds_the_rest_that_is_not_empty() -> None:
    unmapped = json_format.MessageToDict(ticket().unmapped)
    assert unmapped["number"] == "INC0000050"
    assert unmapped["active"] == "true"
    assert unmapped["impact"] == {"value": "1", "display_value": "1 - High"}
    assert unmapped["location"] == {"value": "108752c8", "display_value": "Paris"}
    for gone in (
        "short_description",
        "state",
        "assigned_to",
        "caller_id",
        "sys_id",
        "sys_class_name",
        "u_effort",
        "u_team",
        "comments",
        "work_notes",
        "comments_and_work_notes",
        "watch_list",
        "closed_at",
    ):
        assert gone not in unmapped, gone
    # Without the mapping u_effort is just another column.
    assert json_format.MessageToDict(ticket(custom_fields={}).unmapped)["u_effort"] == "3"


def test_a_record_of_actual_values_only() -> None:
    plain = {k: value_of(v) for k, v in RECORD.items() if k != "sys_class_name"}
    t = ticket_from_record(plain, instance=INSTANCE, table="u_child", state_choices=ITSM_STATES)
    assert t.status == "In Progress"  # labelled through the choices
    assert t.issue_type == "software"  # no display value: the value
    assert t.project == "u_child"  # no sys_class_name: the table read from
    assert t.assignee == BETH
    bare = ticket_from_record(plain, instance=INSTANCE, table="incident")
    assert bare.status == "2"


def test_state_display_equal_to_its_value_is_labelled_from_choices() -> None:
    record = RECORD | {"state": pair("16")}
    labelled = ticket_from_record(
        record, instance=INSTANCE, table="x", state_choices=(Choice("16", "Analysis"),)
    )
    assert labelled.status == "Analysis"


@pytest.mark.parametrize(
    ("code", "priority"),
    [
        ("1", ticket_pb2.CRITICAL),
        ("2", ticket_pb2.HIGH),
        ("3", ticket_pb2.MODERATE),
        ("4", ticket_pb2.LOW),
        ("5", ticket_pb2.PLANNING),
        ("", ticket_pb2.PRIORITY_UNSPECIFIED),
        ("9", ticket_pb2.PRIORITY_UNSPECIFIED),
    ],
)
def test_priority_codes(code: str, priority: int) -> None:
    t = ticket_from_record(RECORD | {"priority": pair(code)}, instance=INSTANCE, table="incident")
    assert t.priority == priority


# The default priority lookup rules (PROVIDERS.md section 2): impact x urgency -> priority.
LOOKUP = {
    ("1", "1"): "1",
    ("1", "2"): "2",
    ("1", "3"): "3",
    ("2", "1"): "2",
    ("2", "2"): "3",
    ("2", "3"): "4",
    ("3", "1"): "3",
    ("3", "2"): "4",
    ("3", "3"): "5",
}


@pytest.mark.parametrize(
    ("priority", "code"),
    [
        (ticket_pb2.URGENT, "1"),
        (ticket_pb2.CRITICAL, "1"),
        (ticket_pb2.HIGH, "2"),
        (ticket_pb2.MEDIUM, "3"),
        (ticket_pb2.MODERATE, "3"),
        (ticket_pb2.LOW, "4"),
        (ticket_pb2.PLANNING, "5"),
    ],
)
def test_writing_a_priority_sets_the_impact_and_urgency_that_produce_it(
    priority: int, code: str
) -> None:
    fields = priority_fields(priority)
    assert fields["priority"] == code
    assert LOOKUP[(fields["impact"], fields["urgency"])] == code


def test_the_documented_impact_urgency_table() -> None:
    assert dict(PRIORITY_IMPACT_URGENCY) == {
        "1": ("1", "1"),
        "2": ("1", "2"),
        "3": ("2", "2"),
        "4": ("2", "3"),
        "5": ("3", "3"),
    }


def test_a_write_body_has_actual_values_only() -> None:
    change = ticket_pb2.Ticket(
        summary="New summary",
        priority=ticket_pb2.LOW,
        status="in progress",
        assignee=BETH,
        issue_type="Inquiry / Help",
        description="should not be sent",
    )
    change.due_date.FromDatetime(datetime(2024, 10, 1, 14, 0, tzinfo=timezone(timedelta(hours=2))))
    body = record_from_ticket(
        change,
        ["summary", "priority", "status", "assignee", "issue_type", "due_date"],
        choices=CHOICES,
    )
    assert body == {
        "short_description": "New summary",
        "impact": "2",
        "urgency": "3",
        "priority": "4",
        "state": "2",
        "assigned_to": BETH,
        "category": "inquiry",
        "due_date": "2024-10-01 12:00:00",
    }


def test_clearing_fields() -> None:
    body = record_from_ticket(
        ticket_pb2.Ticket(),
        ["assignee", "contact", "parent", "issue_type", "due_date", "completion_date", "tags"],
        choices=CHOICES,
    )
    assert body == {
        "assigned_to": "",
        "caller_id": "",
        "parent": "",
        "category": "",
        "due_date": "",
        "closed_at": "",
    }


@pytest.mark.parametrize(
    ("change", "paths", "words"),
    [
        (ticket_pb2.Ticket(status="Done"), ["status"], ["'Done'", "In Progress", "Canceled"]),
        (ticket_pb2.Ticket(), ["status"], ["cannot be cleared"]),
        (ticket_pb2.Ticket(), ["priority"], ["cannot be cleared"]),
        (ticket_pb2.Ticket(tags=["x"]), ["tags"], ["tags"]),
        (ticket_pb2.Ticket(issue_type="Hardware"), ["issue_type"], ["Software"]),
    ],
)
def test_writes_servicenow_would_mangle_are_refused(
    change: ticket_pb2.Ticket, paths: list[str], words: list[str]
) -> None:
    with pytest.raises(InvalidArgument) as info:
        record_from_ticket(change, paths, choices=CHOICES)
    for word in words:
        assert word in info.value.message


def test_sir_has_no_contact_column() -> None:
    with pytest.raises(InvalidArgument, match="contact"):
        record_from_ticket(ticket_pb2.Ticket(contact="x"), ["contact"], columns=SIR_TICKET_COLUMNS)
    t = ticket_from_record(RECORD, instance=INSTANCE, table="x", columns=SIR_TICKET_COLUMNS)
    assert t.contact == ""
    # Mask `*` with no contact given writes nothing for it.
    body = record_from_ticket(t, TICKET_WRITABLE, columns=SIR_TICKET_COLUMNS, choices=CHOICES)
    assert "caller_id" not in body and body["state"] == "2"


def test_a_category_without_choices_is_written_as_given() -> None:
    body = record_from_ticket(ticket_pb2.Ticket(issue_type="Whatever"), ["issue_type"])
    assert body == {"category": "Whatever"}


def test_project_is_not_a_column() -> None:
    assert record_from_ticket(ticket_pb2.Ticket(project="problem"), ["project"]) == {}


def custom_ticket(values: dict[str, Any]) -> ticket_pb2.Ticket:
    t = ticket_pb2.Ticket()
    t.custom_fields.update(values)
    return t


def test_custom_fields_whole_mask_clears_the_mapped_ones_not_given() -> None:
    body = record_from_ticket(custom_ticket({"effort": 3}), ["custom_fields"], custom_fields=CUSTOM)
    assert body == {"u_effort": "3", "u_team": ""}


def test_custom_fields_one_path_touches_that_one_only() -> None:
    t = custom_ticket({"effort": 2.5, "team": "ops"})
    body = record_from_ticket(t, ["custom_fields.effort"], custom_fields=CUSTOM)
    assert body == {"u_effort": "2.5"}
    cleared = record_from_ticket(t, ["custom_fields.other"], custom_fields={"other": "u_other"})
    assert cleared == {"u_other": ""}


def test_an_unmapped_custom_field_is_refused() -> None:
    with pytest.raises(InvalidArgument) as info:
        record_from_ticket(
            custom_ticket({"colour": "red"}), ["custom_fields"], custom_fields=CUSTOM
        )
    assert info.value.reason == "UNMAPPED_CUSTOM_FIELD"
    assert "'colour'" in info.value.message


@pytest.mark.parametrize(
    ("value", "text"),
    [("x", "x"), (3.0, "3"), (2.5, "2.5"), (True, "true"), (False, "false"), (None, "")],
)
def test_custom_values_are_strings(value: Any, text: str) -> None:
    assert custom_value("f", value) == text


@pytest.mark.parametrize("value", [[1, 2], {"a": 1}])
def test_structured_custom_values_are_refused(value: Any) -> None:
    with pytest.raises(InvalidArgument, match="'f'"):
        custom_value("f", value)


def test_read_then_write_every_field_changes_nothing() -> None:
    """A ticket read and patched back with mask `*` writes what was stored."""
    read = ticket()
    body = record_from_ticket(read, TICKET_WRITABLE, choices=CHOICES, custom_fields=CUSTOM)
    assert body == {
        "short_description": value_of(RECORD["short_description"]),
        "description": value_of(RECORD["description"]),
        "impact": "1",
        "urgency": "2",
        "priority": "2",
        "state": "2",
        "assigned_to": BETH,
        "opened_by": MAINT,
        "caller_id": "",
        "category": "software",
        "parent": "",
        "due_date": "2024-10-01 12:00:00",
        "closed_at": "",
        "u_effort": "3",
        "u_team": "",
    }


def test_value_and_display() -> None:
    assert value_of(reference("abc", "Name")) == "abc"
    assert display_of(reference("abc", "Name")) == "Name"
    assert display_of({"display_value": "", "value": "v"}) == "v"
    assert (value_of(""), display_of(""), value_of(None), value_of(True)) == ("", "", "", "true")


def test_choices_from_rows() -> None:
    rows = [
        {"value": "2", "label": "In Progress", "sequence": "2", "inactive": "false"},
        {"value": "1", "label": "New", "sequence": "1", "inactive": "false"},
        {"value": "9", "label": "Old", "sequence": "0", "inactive": "true"},
        {"value": "1", "label": "Neu", "sequence": "1", "language": "de"},
        {"value": "3", "label": "On Hold"},
        {"value": "", "label": "None"},
    ]
    assert choices_from_rows(rows) == (
        Choice("1", "New"),
        Choice("2", "In Progress"),
        Choice("3", "On Hold"),
    )
    german_first = [rows[3], rows[1]]
    assert choices_from_rows(german_first) == (Choice("1", "New"),)


def test_resolve_choice() -> None:
    assert resolve_choice("x", " on hold ", ITSM_STATES) == "3"
    assert resolve_choice("x", "8", ITSM_STATES) == "8"
    assert resolve_choice("x", "anything", ()) == "anything"
    with pytest.raises(InvalidArgument):
        resolve_choice("x", "Cancelled", ITSM_STATES)  # ITSM spells it Canceled


JOURNAL = {
    "sys_id": "j1",
    "element_id": SYS_ID,
    "element": "comments",
    "name": "incident",
    "value": "Elevating urgency",
    "sys_created_on": "2024-09-30 12:30:00",
    "sys_created_by": "admin",
}


def test_a_journal_entry_as_a_comment() -> None:
    comment = comment_from_journal(JOURNAL, "other")
    assert (comment.id, comment.ticket_id, comment.creator, comment.content) == (
        "j1",
        SYS_ID,
        "admin",
        "Elevating urgency",
    )
    moment = datetime(2024, 9, 30, 12, 30, tzinfo=UTC)
    assert comment.created_at.ToDatetime(tzinfo=UTC) == moment
    assert comment.updated_at.ToDatetime(tzinfo=UTC) == moment
    assert json_format.MessageToDict(comment.unmapped) == {
        "element": "comments",
        "name": "incident",
    }


def test_a_journal_entry_as_a_note() -> None:
    note = note_from_journal(JOURNAL | {"element": "work_notes", "element_id": ""}, SYS_ID)
    assert (note.id, note.ticket_id, note.title, note.content) == (
        "j1",
        SYS_ID,
        "",
        "Elevating urgency",
    )
    assert note.created_at.seconds > 0


def test_a_note_title_becomes_the_first_paragraph() -> None:
    assert note_text(ticket_pb2.Note(title="Cause", content="Disk full")) == "Cause\n\nDisk full"
    assert note_text(ticket_pb2.Note(content="Disk full")) == "Disk full"


def test_same_text() -> None:
    assert same_text("a\r\nb\n", "a\nb")
    assert not same_text("a b", "a  b")


def test_remote_fields() -> None:
    custom = remote_field(
        {"element": "u_effort", "column_label": "Effort", "internal_type": "integer"},
        table="incident",
    )
    assert custom.field_scope == ticket_pb2.REMOTE_FIELD_SCOPE_TICKET_CUSTOM
    assert custom.schema.field_type == ticket_pb2.REMOTE_FIELD_TYPE_NUMBER
    assert (custom.field_id, custom.provider_field_path, custom.provider_field_name) == (
        "u_effort",
        "u_effort",
        "Effort",
    )
    assert custom.project_id == "incident"
    state = remote_field(
        {"element": "state", "column_label": "State", "internal_type": pair("integer", "Integer")},
        table="incident",
        choices=ITSM_STATES[:2],
    )
    assert state.field_scope == ticket_pb2.REMOTE_FIELD_SCOPE_STANDARD
    assert state.schema.field_type == ticket_pb2.REMOTE_FIELD_TYPE_ENUM
    assert state.schema.provider_type == "integer"
    assert list(state.schema.enum_values) == ["New", "In Progress"]
    assert [(o.value, o.display_name) for o in state.schema.enum_option_values] == [
        ("1", "New"),
        ("2", "In Progress"),
    ]
    text = remote_field({"element": "short_description", "internal_type": "string"}, table="t")
    assert text.schema.field_type == ticket_pb2.REMOTE_FIELD_TYPE_STRING
    assert text.provider_field_name == "short_description"
    when = remote_field({"element": "opened_at", "internal_type": "glide_date_time"}, table="t")
    assert when.schema.field_type == ticket_pb2.REMOTE_FIELD_TYPE_OTHER
    scoped = remote_field({"element": "x_acme_score", "internal_type": "decimal"}, table="t")
    assert scoped.field_scope == ticket_pb2.REMOTE_FIELD_SCOPE_TICKET_CUSTOM


def body(value: Any) -> bytes:
    return json.dumps(value).encode()


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        (
            body(
                {
                    "error": {
                        "message": "Rate limit exceeded",
                        "detail": "Rate limit of 100 requests per hour for Table API exceeded",
                    },
                    "status": "failure",
                }
            ),
            "Rate limit exceeded: Rate limit of 100 requests per hour for Table API exceeded",
        ),
        (
            body({"error": {"message": "No Record found", "detail": None}, "status": "failure"}),
            "No Record found",
        ),
        (body({"error": {"message": "Invalid table", "detail": "Invalid table"}}), "Invalid table"),
        (body({"error": {"detail": "only detail"}}), "only detail"),
        (b"<html><body>Bad gateway</body></html>", "Bad gateway"),
        (body({"result": []}), '{"result": []}'),
    ],
)
def test_error_text(raw: bytes, text: str) -> None:
    assert error_text(400, raw) == text
