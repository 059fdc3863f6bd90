from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ticketing_grpc.query import (
    ALL_OPS,
    Condition,
    FieldSpec,
    FieldType,
    Op,
    Query,
    QueryError,
    QuerySchema,
    SortKey,
    field,
    parse_query,
)

PRIORITIES = ("PLANNING", "LOW", "MEDIUM", "HIGH", "URGENT")
LIST_FIELD_OPS = {Op.EQ, Op.NEQ, Op.IN, Op.NOT_IN, Op.LIKE, Op.NOT_LIKE}

SCHEMA = QuerySchema.of(
    field("id", FieldType.STRING),
    field("summary", FieldType.STRING),
    field("status", FieldType.STRING, ops=ALL_OPS - {Op.LIKE}),
    field("priority", FieldType.ENUM, enum_values=PRIORITIES),
    field("created_at", FieldType.DATETIME),
    field("tags", FieldType.LIST, ops=LIST_FIELD_OPS, orderable=False),
    field("custom_fields.effort", FieldType.NUMBER),
    field("custom_fields.team", FieldType.ANY),
)


def one(text: str, schema: QuerySchema = SCHEMA) -> Condition:
    (condition,) = parse_query([text], [], schema).conditions
    return condition


def error(filters: list[str], order: list[str] | None = None, schema: QuerySchema = SCHEMA) -> str:
    with pytest.raises(QueryError) as info:
        parse_query(filters, order or [], schema)
    return str(info.value)


@pytest.mark.parametrize(
    ("op_text", "op"),
    [
        ("eq", Op.EQ),
        ("neq", Op.NEQ),
        ("ne", Op.NEQ),
        ("NE", Op.NEQ),
        ("gt", Op.GT),
        (" Gt ", Op.GT),
        ("gte", Op.GTE),
        ("lt", Op.LT),
        ("lte", Op.LTE),
        ("like", Op.LIKE),
        ("not like", Op.NOT_LIKE),
        (" NOT   Like ", Op.NOT_LIKE),
    ],
)
def test_single_value_operators(op_text: str, op: Op) -> None:
    assert one(f"summary[{op_text}]printer") == Condition("summary", op, ("printer",))


@pytest.mark.parametrize(("op_text", "op"), [("in", Op.IN), ("not in", Op.NOT_IN), ("IN", Op.IN)])
def test_list_operators_split_and_strip_values(op_text: str, op: Op) -> None:
    condition = one(f"status[{op_text}] open , in progress,closed,")
    assert condition == Condition("status", op, ("open", "in progress", "closed"))


def test_equals_shorthand_means_eq() -> None:
    assert one("status=open") == Condition("status", Op.EQ, ("open",))
    assert one("status=a=b") == Condition("status", Op.EQ, ("a=b",))


def test_string_values_are_kept_verbatim() -> None:
    assert one("summary[eq] two  spaces ").values == (" two  spaces ",)
    assert one("summary[eq]a]b[c").values == ("a]b[c",)


def test_dotted_field_and_number_conversion() -> None:
    assert one("custom_fields.effort[gte] 2.5") == Condition("custom_fields.effort", Op.GTE, (2.5,))
    assert one("custom_fields.effort[in]1, -3,4e2").values == (1.0, -3.0, 400.0)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-09-30T12:26:34Z", datetime(2024, 9, 30, 12, 26, 34, tzinfo=UTC)),
        ("2024-09-30t12:26:34z", datetime(2024, 9, 30, 12, 26, 34, tzinfo=UTC)),
        ("2024-09-30T14:26:34+02:00", datetime(2024, 9, 30, 12, 26, 34, tzinfo=UTC)),
        ("2024-09-30T07:56:34-04:30", datetime(2024, 9, 30, 12, 26, 34, tzinfo=UTC)),
        ("2024-09-30T12:26:34.5Z", datetime(2024, 9, 30, 12, 26, 34, 500000, tzinfo=UTC)),
        ("2024-09-30T12:26:34.123456789Z", datetime(2024, 9, 30, 12, 26, 34, 123456, tzinfo=UTC)),
        ("2024-10-01T01:00:00+02:00", datetime(2024, 9, 30, 23, 0, tzinfo=UTC)),
        ("2024-09-30", datetime(2024, 9, 30, tzinfo=UTC)),
    ],
)
def test_datetime_values_become_aware_utc(text: str, expected: datetime) -> None:
    (value,) = one(f"created_at[gt]{text}").values
    assert value == expected
    assert isinstance(value, datetime)
    assert value.utcoffset() is not None
    assert value.utcoffset() == expected.utcoffset()


def test_enum_values_are_upper_cased() -> None:
    assert one("priority[eq]high").values == ("HIGH",)
    assert one("priority[not in]low, Urgent").values == ("LOW", "URGENT")


def test_like_values_stay_strings_whatever_the_type() -> None:
    assert one("custom_fields.effort[like]2*").values == ("2*",)
    assert one("created_at[not like]2024-*").values == ("2024-*",)
    assert one("priority[like]hi").values == ("hi",)


def test_list_and_any_values_stay_strings() -> None:
    assert one("tags[eq]Urgent").values == ("Urgent",)
    assert one("custom_fields.team[gt]10").values == ("10",)


def test_conditions_and_order_keep_their_sequence() -> None:
    query = parse_query(
        ["status=open", "priority[gte]medium"],
        ["priority[desc]", "created_at", "summary[ ASC ]"],
        SCHEMA,
    )
    assert query == Query(
        conditions=(
            Condition("status", Op.EQ, ("open",)),
            Condition("priority", Op.GTE, ("MEDIUM",)),
        ),
        order=(
            SortKey("priority", descending=True),
            SortKey("created_at"),
            SortKey("summary"),
        ),
    )


@pytest.mark.parametrize(
    "text",
    ["", "   ", "status", "[eq]open", "1status[eq]x", "status.[eq]x", "status[eq", "sta tus=x"],
)
def test_malformed_filter_is_quoted(text: str) -> None:
    message = error([text])
    assert repr(text) in message


def test_unknown_operator_names_operator_and_filter() -> None:
    message = error(["status[contains]x"])
    assert "'contains'" in message
    assert "'status[contains]x'" in message


def test_unknown_field_names_field_and_lists_accepted_fields() -> None:
    message = error(["colour[eq]red"])
    assert "'colour'" in message
    assert "colour[eq]red" in message
    assert "custom_fields.effort, custom_fields.team, id, priority" in message


def test_operator_not_allowed_for_field_names_both() -> None:
    message = error(["tags[gt]x"])
    assert "'gt'" in message
    assert "'tags'" in message
    assert "eq, neq, in, not in, like, not like" in message


def test_operator_no_field_supports_names_the_operator() -> None:
    schema = QuerySchema.of(field("status", FieldType.STRING, ops={Op.EQ, Op.IN}))
    message = error(["status[like]x"], schema=schema)
    assert "'like'" in message and "'status'" in message


@pytest.mark.parametrize("text", ["status[in]", "status[not in] , ,"])
def test_empty_in_list_is_an_error(text: str) -> None:
    assert repr(text) in error([text])


@pytest.mark.parametrize("value", ["abc", "1_000", "nan", "inf", "", "1,5"])
def test_non_numeric_value_for_number_field(value: str) -> None:
    message = error([f"custom_fields.effort[eq]{value}"])
    assert "'custom_fields.effort'" in message
    assert repr(value) in message


@pytest.mark.parametrize(
    "value",
    ["yesterday", "2024-13-01", "2024-09-30T25:00:00Z", "20240930", "2024-09-30T12:00+25:00"],
)
def test_invalid_datetime_names_field_and_value(value: str) -> None:
    message = error([f"created_at[lt]{value}"])
    assert "'created_at'" in message
    assert repr(value) in message


def test_invalid_enum_value_lists_allowed_values() -> None:
    message = error(["priority[in]high,blocker"])
    assert "'blocker'" in message
    assert "'priority'" in message
    assert "PLANNING, LOW, MEDIUM, HIGH, URGENT" in message


def test_order_by_unknown_field() -> None:
    message = error([], ["colour[desc]"])
    assert "'colour'" in message
    assert "accepted fields:" in message


def test_order_by_non_orderable_field() -> None:
    message = error([], ["tags"])
    assert "'tags'" in message
    assert "orderable fields:" in message
    assert "tags," not in message.split("orderable fields:")[1]


@pytest.mark.parametrize("text", ["summary[up]", "summary[]", "summary desc", "", "[asc]"])
def test_malformed_order(text: str) -> None:
    assert repr(text) in error([], [text])


def test_with_fields_returns_a_new_schema() -> None:
    effort = field("custom_fields.size", FieldType.NUMBER)
    summary_eq_only = field("summary", FieldType.STRING, ops={Op.EQ})
    extended = SCHEMA.with_fields([effort, summary_eq_only])
    assert extended.fields["custom_fields.size"] == effort
    assert extended.fields["summary"].ops == frozenset({Op.EQ})
    assert "custom_fields.size" not in SCHEMA.fields
    assert SCHEMA.fields["summary"].ops == ALL_OPS
    assert one("custom_fields.size[lt]3", extended).values == (3.0,)


def test_schema_is_immutable_and_hashable() -> None:
    source = {"status": field("status", FieldType.STRING)}
    schema = QuerySchema(source)
    source["other"] = field("other", FieldType.STRING)
    assert list(schema.fields) == ["status"]
    with pytest.raises(TypeError):
        schema.fields["x"] = field("x", FieldType.STRING)  # type: ignore[index]
    same = QuerySchema.of(field("status", FieldType.STRING))
    assert schema == same
    assert hash(schema) == hash(same)


def test_schema_rejects_mismatched_keys_and_specs() -> None:
    with pytest.raises(ValueError, match="status"):
        QuerySchema({"state": field("status", FieldType.STRING)})
    with pytest.raises(ValueError, match="enum_values"):
        FieldSpec("priority", FieldType.ENUM)
    with pytest.raises(ValueError, match="field name"):
        FieldSpec("bad name", FieldType.STRING)


def test_condition_value_count_is_checked() -> None:
    with pytest.raises(ValueError):
        Condition("status", Op.EQ, ("a", "b"))
    with pytest.raises(ValueError):
        Condition("status", Op.IN, ())
    assert Condition("status", Op.IN, ("a", "b")).values == ("a", "b")
