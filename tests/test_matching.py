from __future__ import annotations

import json
import random
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from ticketing_grpc.matching import apply, matches, sort_key
from ticketing_grpc.query import (
    Condition,
    FieldType,
    Op,
    Query,
    QueryError,
    QuerySchema,
    SortKey,
    field,
    parse_query,
)

SCHEMA = QuerySchema.of(
    field("id", FieldType.STRING),
    field("summary", FieldType.STRING),
    field("status", FieldType.STRING),
    field("priority", FieldType.ENUM, enum_values=("LOW", "MEDIUM", "HIGH", "URGENT")),
    field("created_at", FieldType.DATETIME),
    field("tags", FieldType.LIST),
    field("custom_fields.effort", FieldType.NUMBER),
    field("custom_fields.team", FieldType.ANY),
)

TICKET: dict[str, Any] = {
    "id": "T-1",
    "summary": "Printer on fire (3rd floor)",
    "status": "Open",
    "priority": "HIGH",
    "created_at": "2024-09-30T14:00:00+02:00",
    "tags": ["hardware", "Urgent"],
    "custom_fields": {"effort": 3, "team": "10"},
}


def check(filter_text: str, record: Mapping[str, Any] = TICKET) -> bool:
    return matches(parse_query([filter_text], [], SCHEMA), record, SCHEMA)


def ordered(order: Sequence[str], records: Sequence[Mapping[str, Any]]) -> list[str]:
    return [r["id"] for r in apply(parse_query([], order, SCHEMA), records, SCHEMA)]


@pytest.mark.parametrize(
    ("filter_text", "expected"),
    [
        ("status[eq]Open", True),
        ("status=Open", True),
        ("status[eq]open", False),
        ("status[neq]open", True),
        ("status[ne]Open", False),
        ("status[in]Closed,Open", True),
        ("status[in]closed,open", False),
        ("status[not in]Closed,Open", False),
        ("status[not in]Closed,Pending", True),
        ("status[gt]Closed", True),
        ("status[gte]Open", True),
        ("status[lt]Open", False),
        ("status[lte]Open", True),
        ("summary[like]on fire", True),
        ("summary[like]PRINTER", True),
        ("summary[like]printer*floor", True),
        ("summary[like]floor*printer", False),
        ("summary[like](3rd", True),
        ("summary[like]3rd.floor", False),
        ("summary[like]*", True),
        ("summary[not like]fire", False),
        ("summary[not like]water", True),
    ],
)
def test_string_operators(filter_text: str, expected: bool) -> None:
    assert check(filter_text) is expected


@pytest.mark.parametrize(
    ("filter_text", "expected"),
    [
        ("custom_fields.effort[eq]3.0", True),
        ("custom_fields.effort[neq]3", False),
        ("custom_fields.effort[gt]2.5", True),
        ("custom_fields.effort[gt]3", False),
        ("custom_fields.effort[gte]3", True),
        ("custom_fields.effort[lt]10", True),
        ("custom_fields.effort[lte]2", False),
        ("custom_fields.effort[in]1,3", True),
        ("custom_fields.effort[not in]1,3", False),
        ("custom_fields.effort[like]3", True),
    ],
)
def test_number_operators(filter_text: str, expected: bool) -> None:
    assert check(filter_text) is expected


@pytest.mark.parametrize(
    ("filter_text", "expected"),
    [
        ("priority[eq]high", True),
        ("priority[gt]medium", True),
        ("priority[gt]high", False),
        ("priority[gte]high", True),
        ("priority[lt]urgent", True),
        ("priority[lte]medium", False),
        ("priority[in]low,high", True),
        ("priority[not in]low,high", False),
        ("priority[like]ig", True),
    ],
)
def test_enum_operators_use_declared_order(filter_text: str, expected: bool) -> None:
    assert check(filter_text) is expected


def test_enum_order_comparisons_skip_unknown_record_values() -> None:
    record = {"id": "x", "priority": "PRIORITY_UNSPECIFIED"}
    assert not check("priority[gt]low", record)
    assert not check("priority[lt]urgent", record)
    assert check("priority[neq]low", record)
    assert check("priority[eq]high", {"id": "y", "priority": "high"})


@pytest.mark.parametrize(
    ("created_at", "filter_text", "expected"),
    [
        ("2024-09-30T14:00:00+02:00", "created_at[eq]2024-09-30T12:00:00Z", True),
        ("2024-09-30T14:00:00+02:00", "created_at[gt]2024-09-30T13:59:59+02:00", True),
        ("2024-09-30T14:00:00+02:00", "created_at[lt]2024-09-30T08:00:01-04:00", True),
        ("2024-09-30T14:00:00+02:00", "created_at[lt]2024-09-30T08:00:00-04:00", False),
        ("2024-09-30T00:30:00+02:00", "created_at[lt]2024-09-30", True),
        (datetime(2024, 9, 30, 12, tzinfo=UTC), "created_at[gte]2024-09-30", True),
        (
            datetime(2024, 9, 30, 23, tzinfo=timezone(-timedelta(hours=2))),
            "created_at[gte]2024-10-01",
            True,
        ),
        (datetime(2024, 9, 30, 12), "created_at[eq]2024-09-30T12:00:00Z", True),
        ("2024-09-30T12:00:00.000001Z", "created_at[gt]2024-09-30T12:00:00Z", True),
        ("2024-09-30T12:00:00Z", "created_at[in]2024-01-01,2024-09-30T14:00:00+02:00", True),
        ("2024-09-30T12:00:00Z", "created_at[not in]2024-09-30T14:00:00+02:00", False),
        ("2024-09-30T12:00:00Z", "created_at[neq]2024-09-30", True),
        ("2024-09-30T12:00:00Z", "created_at[like]2024-09-*T12", True),
        ("not a date", "created_at[gt]2000-01-01", False),
        ("not a date", "created_at[neq]2000-01-01", True),
    ],
)
def test_datetime_operators(created_at: Any, filter_text: str, expected: bool) -> None:
    assert check(filter_text, {"id": "x", "created_at": created_at}) is expected


@pytest.mark.parametrize(
    ("filter_text", "expected"),
    [
        ("tags[eq]hardware", True),
        ("tags[eq]urgent", False),
        ("tags[neq]hardware", False),
        ("tags[neq]software", True),
        ("tags[in]software,Urgent", True),
        ("tags[not in]software,Urgent", False),
        ("tags[not in]software,network", True),
        ("tags[like]hard", True),
        ("tags[like]URG*T", True),
        ("tags[not like]urg", False),
        ("tags[not like]soft", True),
        ("tags[gt]zebra", False),
        ("tags[lt]Z", True),
    ],
)
def test_list_operators_mean_some_or_no_element(filter_text: str, expected: bool) -> None:
    assert check(filter_text) is expected


@pytest.mark.parametrize(
    ("team", "filter_text", "expected"),
    [
        ("10", "custom_fields.team[gt]9", True),
        (10, "custom_fields.team[eq]10.0", True),
        ("10", "custom_fields.team[lt]9.5", False),
        ("abd", "custom_fields.team[gt]abc", True),
        ("10", "custom_fields.team[gt]9x", False),
        (True, "custom_fields.team[eq]true", True),
        (True, "custom_fields.team[eq]1", False),
        ({"b": 1, "a": 2}, 'custom_fields.team[like]"a": 2', True),
        (["red", "blue"], "custom_fields.team[eq]blue", True),
    ],
)
def test_any_compares_numbers_numerically_else_as_text(
    team: Any, filter_text: str, expected: bool
) -> None:
    assert check(filter_text, {"id": "x", "custom_fields": {"team": team}}) is expected


@pytest.mark.parametrize(
    "record",
    [
        {"id": "x"},
        {"id": "x", "status": None, "tags": [], "custom_fields": None},
        {"id": "x", "custom_fields": {"effort": None}},
    ],
)
@pytest.mark.parametrize(
    ("op", "expected"),
    [
        (Op.EQ, False),
        (Op.GT, False),
        (Op.GTE, False),
        (Op.LT, False),
        (Op.LTE, False),
        (Op.IN, False),
        (Op.LIKE, False),
        (Op.NEQ, True),
        (Op.NOT_IN, True),
        (Op.NOT_LIKE, True),
    ],
)
def test_missing_values(record: dict[str, Any], op: Op, expected: bool) -> None:
    for name in ("status", "tags", "custom_fields.effort", "custom_fields.team", "priority"):
        value: str = "HIGH" if name == "priority" else "1"
        query = Query((Condition(name, op, (value,)),))
        assert matches(query, record, SCHEMA) is expected, name


def test_conditions_are_anded() -> None:
    assert check("status=Open")
    assert check("priority[gte]high")
    both = parse_query(["status=Open", "priority[gte]high"], [], SCHEMA)
    one_fails = parse_query(["status=Open", "priority[gt]high"], [], SCHEMA)
    assert matches(both, TICKET, SCHEMA)
    assert not matches(one_fails, TICKET, SCHEMA)
    assert matches(Query(), TICKET, SCHEMA)


def test_literal_dotted_key_wins_over_nested_path() -> None:
    record = {"id": "x", "custom_fields.effort": 5, "custom_fields": {"effort": 1}}
    assert check("custom_fields.effort[eq]5", record)


RECORDS: list[dict[str, Any]] = [
    {"id": "a", "summary": "b", "priority": "LOW", "custom_fields": {"effort": 2}},
    {"id": "b", "summary": "ab", "priority": "URGENT", "custom_fields": {"effort": 1}},
    {"id": "c", "summary": "a", "priority": None, "custom_fields": {"effort": 2}},
    {"id": "d", "priority": "HIGH", "custom_fields": {}},
    {"id": "e", "summary": "B", "priority": "MEDIUM", "custom_fields": {"effort": 10}},
    {"id": "f", "summary": "ab", "priority": "WEIRD", "custom_fields": {"effort": 2}},
]


def test_ascending_puts_missing_last_and_breaks_ties_by_id() -> None:
    assert ordered(["custom_fields.effort"], RECORDS) == ["b", "a", "c", "f", "e", "d"]
    assert ordered(["summary"], RECORDS) == ["e", "c", "b", "f", "a", "d"]


def test_descending_puts_missing_first_and_keeps_ids_ascending() -> None:
    assert ordered(["custom_fields.effort[desc]"], RECORDS) == ["d", "e", "a", "c", "f", "b"]
    assert ordered(["summary[desc]"], RECORDS) == ["d", "a", "b", "f", "c", "e"]


def test_enum_sorts_by_declared_order_then_unknown_names_then_missing() -> None:
    assert ordered(["priority"], RECORDS) == ["a", "e", "d", "b", "f", "c"]
    assert ordered(["priority[desc]"], RECORDS) == ["c", "f", "b", "d", "e", "a"]


def test_multiple_sort_keys() -> None:
    order = ["custom_fields.effort[desc]", "summary"]
    assert ordered(order, RECORDS) == ["d", "e", "c", "f", "a", "b"]


def test_datetimes_sort_by_instant_across_offsets_and_types() -> None:
    records = [
        {"id": "1", "created_at": "2024-09-30T13:00:00+02:00"},
        {"id": "2", "created_at": datetime(2024, 9, 30, 11, 30, tzinfo=UTC)},
        {"id": "3", "created_at": "2024-09-30T07:45:00-04:00"},
        {"id": "4", "created_at": "garbage"},
        {"id": "5"},
    ]
    assert ordered(["created_at"], records) == ["1", "2", "3", "4", "5"]
    assert ordered(["created_at[desc]"], records) == ["5", "4", "3", "2", "1"]


def test_any_sorts_numbers_before_text() -> None:
    records = [
        {"id": "1", "custom_fields": {"team": "10"}},
        {"id": "2", "custom_fields": {"team": 9}},
        {"id": "3", "custom_fields": {"team": "alpha"}},
        {"id": "4", "custom_fields": {"team": ["x"]}},
        {"id": "5", "custom_fields": {"team": 9.5}},
    ]
    assert ordered(["custom_fields.team"], records) == ["2", "5", "1", "4", "3"]


def test_empty_list_sorts_like_a_missing_value() -> None:
    records = [
        {"id": "1", "tags": []},
        {"id": "2", "tags": ["b"]},
        {"id": "3"},
        {"id": "4", "tags": ["a", "z"]},
        {"id": "0", "tags": None},
    ]
    assert ordered(["tags"], records) == ["4", "2", "0", "1", "3"]
    assert ordered(["tags[desc]"], records) == ["0", "1", "3", "2", "4"]


def test_sort_key_works_directly_with_sorted() -> None:
    query = parse_query([], ["summary[desc]"], SCHEMA)
    by_key = sorted(RECORDS, key=lambda r: sort_key(query, r, SCHEMA))
    assert [r["id"] for r in by_key] == ordered(["summary[desc]"], RECORDS)


def test_apply_filters_before_sorting() -> None:
    query = parse_query(["custom_fields.effort[gte]2"], ["summary[desc]"], SCHEMA)
    assert [r["id"] for r in apply(query, RECORDS, SCHEMA)] == ["a", "f", "c", "e"]


def test_custom_id_field() -> None:
    records = [{"key": "z", "status": "x"}, {"key": "y", "status": "x"}]
    query = parse_query([], ["status"], SCHEMA)
    assert [r["key"] for r in apply(query, records, SCHEMA, id_field="key")] == ["y", "z"]


def roundtrip(key: tuple[Any, ...]) -> Any:
    return json.loads(json.dumps(key))


def paginate(query: Query, records: Sequence[Mapping[str, Any]], size: int) -> list[str]:
    """Page through the results the way the server does: resume after the last item's key."""
    seen: list[str] = []
    after = None
    while page := apply(query, records, SCHEMA, after=after)[:size]:
        seen.extend(r["id"] for r in page)
        after = roundtrip(sort_key(query, page[-1], SCHEMA))
    return seen


def test_after_continues_right_after_an_item_sharing_sort_values() -> None:
    query = parse_query([], ["custom_fields.effort"], SCHEMA)
    full = [r["id"] for r in apply(query, RECORDS, SCHEMA)]
    assert full == ["b", "a", "c", "f", "e", "d"]
    key_of_c = sort_key(query, RECORDS[2], SCHEMA)
    assert [r["id"] for r in apply(query, RECORDS, SCHEMA, after=key_of_c)] == ["f", "e", "d"]
    resumed = apply(query, RECORDS, SCHEMA, after=roundtrip(key_of_c))
    assert [r["id"] for r in resumed] == ["f", "e", "d"]


def test_after_the_last_item_yields_nothing() -> None:
    query = parse_query([], ["summary[desc]"], SCHEMA)
    last = apply(query, RECORDS, SCHEMA)[-1]
    assert apply(query, RECORDS, SCHEMA, after=roundtrip(sort_key(query, last, SCHEMA))) == []


def test_after_an_item_that_no_longer_exists() -> None:
    query = parse_query([], ["summary[desc]"], SCHEMA)
    gone = {"id": "bb", "summary": "ab"}
    after = roundtrip(sort_key(query, gone, SCHEMA))
    assert [r["id"] for r in apply(query, RECORDS, SCHEMA, after=after)] == ["f", "c", "e"]


@pytest.mark.parametrize(
    "order",
    [
        [],
        ["summary"],
        ["summary[desc]"],
        ["priority[desc]", "custom_fields.effort"],
        ["custom_fields.team[desc]", "created_at[desc]"],
        ["created_at", "summary[desc]", "custom_fields.team"],
    ],
)
def test_pagination_after_json_round_trip_visits_every_record_once(order: list[str]) -> None:
    rng = random.Random(7)
    records = [_random_record(rng, i) for i in range(60)]
    query = parse_query([], order, SCHEMA)
    full = [r["id"] for r in apply(query, records, SCHEMA)]
    assert sorted(full) == sorted(r["id"] for r in records)
    for size in (1, 4, 7):
        assert paginate(query, records, size) == full


def test_descending_text_matches_reversed_python_order() -> None:
    rng = random.Random(3)
    records = [_random_record(rng, i) for i in range(60)]
    present = [r for r in records if r.get("summary") is not None]
    missing = [r for r in records if r.get("summary") is None]
    by_id = sorted(present, key=lambda r: r["id"])
    expected = sorted(by_id, key=lambda r: r["summary"], reverse=True)
    expected_ids = sorted(r["id"] for r in missing) + [r["id"] for r in expected]
    assert ordered(["summary[desc]"], records) == expected_ids


def test_after_that_does_not_fit_the_query_is_rejected() -> None:
    query = parse_query([], ["summary"], SCHEMA)
    other = parse_query([], ["summary", "priority"], SCHEMA)
    key = sort_key(other, RECORDS[0], SCHEMA)
    with pytest.raises(QueryError, match="resume token"):
        apply(query, RECORDS, SCHEMA, after=key)
    desc = parse_query([], ["summary[desc]"], SCHEMA)
    with pytest.raises(QueryError, match="resume token"):
        apply(query, RECORDS, SCHEMA, after=sort_key(desc, RECORDS[0], SCHEMA))


def test_sort_keys_are_json_serialisable() -> None:
    query = Query(order=(SortKey("created_at", True), SortKey("summary", True)))
    record = {"id": "x", "created_at": datetime(2024, 1, 1, tzinfo=UTC), "summary": "é"}
    key = sort_key(query, record, SCHEMA)
    assert json.loads(json.dumps(key)) == _as_lists(key)


def _as_lists(value: Any) -> Any:
    return [_as_lists(v) for v in value] if isinstance(value, tuple) else value


def _random_record(rng: random.Random, index: int) -> dict[str, Any]:
    def maybe(value: Any) -> Any:
        return None if rng.random() < 0.2 else value

    moment = datetime(2024, 1, 1, tzinfo=UTC) + timedelta(hours=rng.randrange(5))
    created: Any = rng.choice([moment, moment.isoformat(), moment.strftime("%Y-%m-%dT%H:%M:%SZ")])
    team = rng.choice([1, 2.5, "2", "alpha", "beta", ["x"], True])
    return {
        "id": f"T-{index:03d}",
        "summary": maybe(rng.choice(["", "a", "ab", "abc", "b", "B", "ß", "a b"])),
        "priority": maybe(rng.choice(["LOW", "HIGH", "URGENT", "OTHER"])),
        "created_at": maybe(created),
        "custom_fields": {"effort": maybe(rng.randrange(3)), "team": maybe(team)},
    }
