"""PagerDuty REST API v2 JSON <-> the common model, and the filters of the three
filtered operators turned into request parameters (pure functions, no I/O).

Tickets are incidents
    ==================  =========================================================
    Ticket              incident
    ==================  =========================================================
    id                  id (GET /incidents/{id} also takes an incident number,
                        the ticket read back then carries the real id)
    summary             title
    description         body.details: written on create only (PUT cannot change
                        it), as a string: the Incident Creation API "only
                        supports string Incident bodies" (developer docs; the
                        OpenAPI schema declares an object, its own example sends
                        a string). Read when the answer has a body (the list and
                        get answers usually have none); an object there (from
                        an event-created incident) reads as its JSON text.
    status              status: triggered | acknowledged | resolved
    priority            priority (a reference to one of the account's
                        priorities), by name, see below
    project             service.id (a service is the grouping PagerDuty has)
    assignee            assignments[0].assignee.id (a user id)
    creator             the From email of create: ticket.creator when set,
                        else the integration's default_creator. PagerDuty
                        keeps no creator (the first log entry would name it,
                        one request per incident), so reads leave it empty.
    created_at          created_at
    updated_at          updated_at, else last_status_change_at
    completion_date     resolved_at, when status is resolved
    url                 html_url
    unmapped            every other attribute (incident_number, urgency,
                        escalation_policy, teams, summary, ...)
    ==================  =========================================================

    contact, issue_type, parent, tags, due_date and custom_fields have no
    incident counterpart: a create that sets them, or a patch that changes
    them from what the incident reads as, is INVALID_ARGUMENT naming the
    field. urgency stays in unmapped (read only) rather than posing as
    issue_type.

Priorities
    Incident priorities are account-defined objects; the defaults are named
    P1..P5, most severe first:

    ======  ==========  =========================================
    name    Priority    notes
    ======  ==========  =========================================
    P1      CRITICAL    URGENT is written as P1 as well
    P2      HIGH
    P3      MODERATE    MEDIUM is written as P3 as well
    P4      LOW
    P5      PLANNING
    ======  ==========  =========================================

    Reading uses the reference's summary (its name); any other name is
    PRIORITY_UNSPECIFIED. Writing looks the name up among the account's
    priorities (GET /priorities) and sends a priority_reference by id; an
    account without priorities, or without one of that name, is
    INVALID_ARGUMENT. A priority cannot be cleared through the API.

Status
    Writable values are the three statuses (PUT /incidents/{id} declares all
    three: triggered on a resolved incident reopens it; PagerDuty decides
    what else it accepts). Anything else is INVALID_ARGUMENT listing them.

Filters (query_tickets)
    id eq/in            GET /incidents/{id} per id (the list has no id filter);
                        only an exact id matches (not an incident number)
    status eq/in        statuses[]
    project eq/in       service_ids[]
    assignee eq/in      user_ids[] (PagerDuty: currently assigned, so never a
                        resolved incident, which has no assignments either)
    created_at gt/gte/lt/lte
                        since/until (with a lower bound only, until = now + 1 h),
                        widened by a second on each side (the API does not say
                        whether its bounds are inclusive). Without a lower
                        bound, or for a window longer than 180 days (PagerDuty
                        allows 6 months and otherwise defaults to the last
                        month), date_range=all and the bounds apply to the
                        results only. No created_at filter: date_range=all.
    order               created_at asc/desc as sort_by=created_at:asc|desc;
                        PagerDuty's own order when none is given.

    Every condition is re-checked on each incident read (so bounds are
    exact and several conditions on one field are ANDed, which PagerDuty's
    set filters would OR).

Filters (query_escalation_policies)
    name like/eq        query (PagerDuty's name search: the longest text between
                        the like's `*`s), re-checked as the contract's
                        case-insensitive "contains"/exact match
    id eq/in            checked on each policy (the list has no id filter)
    user_id eq/in       user_ids[] (policies targeting one of the users);
                        given once only (it cannot be re-checked: a user may be
                        a target through a schedule)
    team_id eq/in       team_ids[], re-checked against the policy's teams
    order               name asc/desc as sort_by=name:asc|desc

Filters (list_on_call)
    escalation_policy_id, schedule_id, user_id eq/in
                        escalation_policy_ids[], schedule_ids[], user_ids[]
    end_time gt/gte     since (PagerDuty lists the shifts overlapping
    start_time lt/lte   [since, until]; each defaults to now), widened by a
                        second and re-checked; a permanent shift (no start or
                        end) counts as starting/ending at infinity.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any

from google.protobuf import json_format, struct_pb2, timestamp_pb2
from ticketing.v1 import ticket_pb2

from ..errors import InvalidArgument
from ..matching import apply
from ..query import (
    Condition,
    FieldType,
    Op,
    Query,
    QuerySchema,
    field,
    parse_datetime,
)
from .http_errors import body_excerpt

__all__ = [
    "ESCALATION_POLICY_SCHEMA",
    "ON_CALL_SCHEMA",
    "STATUSES",
    "TICKET_SCHEMA",
    "IncidentSearch",
    "ListSearch",
    "comment_from_note",
    "create_body",
    "error_text",
    "escalation_policy_from_pd",
    "escalation_policy_search",
    "incident_search",
    "on_call_from_pd",
    "on_call_search",
    "pagerduty_priority",
    "pagerduty_priority_name",
    "priority_reference",
    "project_from_service",
    "ticket_from_incident",
    "update_body",
]

STATUSES: tuple[str, ...] = ("triggered", "acknowledged", "resolved")
"""Incident statuses, as PagerDuty spells them (also the writable ones)."""

RESOLVED = "resolved"
MAX_WINDOW = timedelta(days=180)
"""The longest since/until window sent (PagerDuty allows 6 months)."""
WIDEN = timedelta(seconds=1)
"""How far since/until are moved out so that PagerDuty's inclusiveness does not matter."""
CLOCK_MARGIN = timedelta(hours=1)
"""`until` when only a lower bound is given: now plus this (clock skew)."""

_PRIORITY_BY_NAME: Mapping[str, int] = MappingProxyType(
    {
        "p1": ticket_pb2.CRITICAL,
        "p2": ticket_pb2.HIGH,
        "p3": ticket_pb2.MODERATE,
        "p4": ticket_pb2.LOW,
        "p5": ticket_pb2.PLANNING,
    }
)
_NAME_BY_PRIORITY: Mapping[int, str] = MappingProxyType(
    {
        ticket_pb2.URGENT: "P1",
        ticket_pb2.CRITICAL: "P1",
        ticket_pb2.HIGH: "P2",
        ticket_pb2.MEDIUM: "P3",
        ticket_pb2.MODERATE: "P3",
        ticket_pb2.LOW: "P4",
        ticket_pb2.PLANNING: "P5",
    }
)

_INCIDENT_MAPPED = frozenset(
    {
        "id",
        "type",
        "self",
        "title",
        "body",
        "status",
        "priority",
        "service",
        "assignments",
        "created_at",
        "updated_at",
        "resolved_at",
        "html_url",
    }
)
_NOT_ON_INCIDENTS = ("contact", "issue_type", "parent", "tags", "due_date", "completion_date")

_EQUALITY = frozenset({Op.EQ, Op.IN})
_LOWER = frozenset({Op.GT, Op.GTE})
_UPPER = frozenset({Op.LT, Op.LTE})

TICKET_SCHEMA = QuerySchema.of(
    field("id", FieldType.STRING, _EQUALITY, orderable=False),
    field("status", FieldType.STRING, _EQUALITY, orderable=False),
    field("project", FieldType.STRING, _EQUALITY, orderable=False),
    field("assignee", FieldType.STRING, _EQUALITY, orderable=False),
    field("created_at", FieldType.DATETIME, _LOWER | _UPPER),
)
"""What query_tickets accepts (see the module docstring)."""

ESCALATION_POLICY_SCHEMA = QuerySchema.of(
    field("name", FieldType.STRING, {Op.EQ, Op.LIKE}),
    field("id", FieldType.STRING, _EQUALITY, orderable=False),
    field("user_id", FieldType.STRING, _EQUALITY, orderable=False),
    field("team_id", FieldType.STRING, _EQUALITY, orderable=False),
)
"""What query_escalation_policies accepts."""

ON_CALL_SCHEMA = QuerySchema.of(
    field("escalation_policy_id", FieldType.STRING, _EQUALITY, orderable=False),
    field("schedule_id", FieldType.STRING, _EQUALITY, orderable=False),
    field("user_id", FieldType.STRING, _EQUALITY, orderable=False),
    field("start_time", FieldType.DATETIME, _UPPER, orderable=False),
    field("end_time", FieldType.DATETIME, _LOWER, orderable=False),
)
"""What list_on_call accepts."""

Params = tuple[tuple[str, str], ...]

# -- small helpers -------------------------------------------------------------------


def _obj(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _str(value: Any) -> str:
    if value is None or isinstance(value, bool):
        return ""
    return value if isinstance(value, str) else str(value)


def _struct(values: Mapping[str, Any]) -> struct_pb2.Struct:
    out = struct_pb2.Struct()
    out.update({k: v for k, v in values.items() if v is not None})
    return out


def _rest(item: Mapping[str, Any], mapped: Iterable[str]) -> struct_pb2.Struct:
    skip = set(mapped)
    return _struct({k: v for k, v in item.items() if k not in skip})


def _set_time(target: timestamp_pb2.Timestamp, raw: Any) -> bool:
    moment = parse_datetime(raw) if isinstance(raw, str) and raw else None
    if moment is None:
        return False
    target.FromDatetime(moment)
    return True


def format_time(moment: datetime) -> str:
    """An ISO 8601 UTC timestamp as PagerDuty's examples write them (whole seconds, Z)."""
    return moment.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def _plain(struct: struct_pb2.Struct) -> dict[str, Any]:
    return dict(json_format.MessageToDict(struct))


def _summary(ref: Any) -> ticket_pb2.ActorSummary:
    item = _obj(ref)
    return ticket_pb2.ActorSummary(
        id=_str(item.get("id")),
        name=_str(item.get("summary") or item.get("name")),
        additional_properties=True,
    )


# -- priorities ----------------------------------------------------------------------


def pagerduty_priority(name: Any) -> int:
    """The Priority for a PagerDuty priority name (P1..P5); PRIORITY_UNSPECIFIED otherwise."""
    if not isinstance(name, str):
        return ticket_pb2.PRIORITY_UNSPECIFIED
    return _PRIORITY_BY_NAME.get(name.strip().casefold(), ticket_pb2.PRIORITY_UNSPECIFIED)


def pagerduty_priority_name(priority: int) -> str | None:
    """The PagerDuty priority name to write for `priority`; None for UNSPECIFIED/unknown."""
    return _NAME_BY_PRIORITY.get(priority)


def priority_reference(priority: int, account: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """A priority_reference to the account priority named for `priority` (see the table).

    `account` is what GET /priorities lists. INVALID_ARGUMENT when the
    priority cannot be written: UNSPECIFIED (no clearing), no priorities on
    the account, or none of the wanted name.
    """
    wanted = pagerduty_priority_name(priority)
    if wanted is None:
        raise InvalidArgument("a PagerDuty incident priority cannot be cleared (ticket.priority)")
    if not account:
        raise InvalidArgument(
            "this PagerDuty account has no incident priorities enabled; "
            "ticket.priority cannot be set",
            reason="PRIORITIES_DISABLED",
        )
    for item in account:
        name = _str(item.get("name") or item.get("summary"))
        if name.strip().casefold() == wanted.casefold() and item.get("id"):
            return {"id": _str(item["id"]), "type": "priority_reference"}
    names = ", ".join(_str(i.get("name") or i.get("summary")) for i in account)
    raise InvalidArgument(
        f"ticket.priority {ticket_pb2.Priority.Name(priority)} is PagerDuty priority "  # type: ignore[arg-type]
        f"{wanted!r}, which this account does not have (it has: {names})",
        reason="UNKNOWN_PRIORITY",
    )


# -- incidents -----------------------------------------------------------------------


def _details(body: Any) -> str:
    details = _obj(body).get("details")
    if isinstance(details, str):
        return details
    if details is None:
        return ""
    return json.dumps(details, sort_keys=True, ensure_ascii=False)


def assignee_ids(incident: Mapping[str, Any]) -> list[str]:
    """The ids of the incident's assignees, in order."""
    assignments = incident.get("assignments")
    ids = [_str(_obj(_obj(a).get("assignee")).get("id")) for a in assignments or ()]
    return [i for i in ids if i]


def ticket_from_incident(incident: Mapping[str, Any], *, creator: str = "") -> ticket_pb2.Ticket:
    """An incident (GET/POST/PUT answer or list item) as a Ticket; `creator` is the
    From email when the incident was just created."""
    status = _str(incident.get("status"))
    priority = _obj(incident.get("priority"))
    assignees = assignee_ids(incident)
    ticket = ticket_pb2.Ticket(
        id=_str(incident.get("id")),
        summary=_str(incident.get("title")),
        description=_details(incident.get("body")),
        status=status,
        priority=pagerduty_priority(priority.get("summary") or priority.get("name")),  # type: ignore[arg-type]
        project=_str(_obj(incident.get("service")).get("id")),
        assignee=assignees[0] if assignees else "",
        creator=creator,
        url=_str(incident.get("html_url")),
    )
    _set_time(ticket.created_at, incident.get("created_at"))
    if not _set_time(ticket.updated_at, incident.get("updated_at")):
        _set_time(ticket.updated_at, incident.get("last_status_change_at"))
    if status == RESOLVED:
        _set_time(ticket.completion_date, incident.get("resolved_at"))
    ticket.unmapped.CopyFrom(_rest(incident, _INCIDENT_MAPPED))
    return ticket


def check_status(status: str) -> str:
    """The PagerDuty status for `status` (case-insensitive); INVALID_ARGUMENT otherwise."""
    value = status.strip().lower()
    if value not in STATUSES:
        raise InvalidArgument(
            f"ticket.status {status!r} is not a PagerDuty incident status; "
            f"allowed: {', '.join(STATUSES)}",
            reason="INVALID_STATUS",
        )
    return value


def _refuse(path: str, why: str = "has no PagerDuty incident counterpart") -> InvalidArgument:
    return InvalidArgument(f"ticket.{path} {why}", reason="UNSUPPORTED_FIELD")


def _user(user_id: str) -> list[dict[str, Any]]:
    return [{"assignee": {"id": user_id, "type": "user_reference"}}]


def create_body(
    ticket: ticket_pb2.Ticket,
    *,
    service: str,
    priorities: Sequence[Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """The POST /incidents body for a new ticket on `service`.

    `priorities` (GET /priorities) is needed only when the ticket has a
    priority. ticket.status is checked here but not written (an incident
    starts triggered; the provider PUTs another status afterwards);
    ticket.creator is the From header, not part of the body.
    """
    for path in _NOT_ON_INCIDENTS:
        if path in ("due_date", "completion_date"):
            if ticket.HasField(path):
                raise _refuse(path)
        elif path == "tags":
            if ticket.tags:
                raise _refuse(path)
        elif getattr(ticket, path):
            raise _refuse(path)
    if _plain(ticket.custom_fields):
        raise _refuse("custom_fields", "cannot be written: this connector maps no PagerDuty field")
    if ticket.status:
        check_status(ticket.status)
    if not service:
        raise InvalidArgument(
            "ticket.project (a PagerDuty service id) is required: "
            "this integration has no default_project"
        )
    incident: dict[str, Any] = {
        "type": "incident",
        "title": ticket.summary,
        "service": {"id": service, "type": "service_reference"},
    }
    if ticket.description:
        incident["body"] = {"type": "incident_body", "details": ticket.description}
    if ticket.priority != ticket_pb2.PRIORITY_UNSPECIFIED:
        incident["priority"] = priority_reference(ticket.priority, priorities or ())
    if ticket.assignee:
        incident["assignments"] = _user(ticket.assignee)
    return {"incident": incident}


def writes_priority(
    ticket: ticket_pb2.Ticket, paths: Sequence[str], current: ticket_pb2.Ticket
) -> bool:
    """Whether update_body will need the account's priorities."""
    return "priority" in paths and ticket.priority not in (
        current.priority,
        ticket_pb2.PRIORITY_UNSPECIFIED,
    )


def update_body(
    ticket: ticket_pb2.Ticket,
    paths: Sequence[str],
    current: ticket_pb2.Ticket,
    *,
    priorities: Sequence[Mapping[str, Any]] | None = None,
) -> dict[str, Any] | None:
    """The PUT /incidents/{id} body for `paths`, or None when nothing changes.

    `current` is the incident as read now: a path whose value equals it is
    left out (so a ticket read and written back with `*` changes nothing),
    and a path PagerDuty cannot write is INVALID_ARGUMENT only when it would
    change something.
    """
    incident: dict[str, Any] = {}
    wanted_custom = _plain(ticket.custom_fields)
    for path in paths:
        head, _, name = path.partition(".")
        if head == "custom_fields":
            if (wanted_custom.get(name) is not None) if name else wanted_custom:
                raise _refuse(path, "cannot be written: this connector maps no PagerDuty field")
        elif path == "summary":
            if ticket.summary != current.summary:
                incident["title"] = ticket.summary
        elif path == "status":
            if not ticket.status:
                raise InvalidArgument("a PagerDuty incident always has a status (ticket.status)")
            status = check_status(ticket.status)
            if status != current.status:
                incident["status"] = status
        elif path == "priority":
            if ticket.priority != current.priority:
                incident["priority"] = priority_reference(ticket.priority, priorities or ())
        elif path == "assignee":
            if ticket.assignee != current.assignee:
                if not ticket.assignee:
                    raise InvalidArgument(
                        "a PagerDuty incident cannot be left without assignee (ticket.assignee); "
                        "assign it to someone else instead"
                    )
                incident["assignments"] = _user(ticket.assignee)
        elif path == "project":
            if ticket.project != current.project:
                if not ticket.project:
                    raise InvalidArgument(
                        "a PagerDuty incident always has a service (ticket.project)"
                    )
                incident["service"] = {"id": ticket.project, "type": "service_reference"}
        elif path == "description":
            if ticket.description != current.description:
                raise _refuse(path, "(the incident body) cannot be changed after creation")
        elif path == "creator":
            if ticket.creator != current.creator:
                raise _refuse(path, "cannot be changed: PagerDuty keeps no incident creator")
        elif path in ("due_date", "completion_date"):
            if getattr(ticket, path) != getattr(current, path):
                raise _refuse(path)
        elif path == "tags":
            if list(ticket.tags) != list(current.tags):
                raise _refuse(path)
        elif path in _NOT_ON_INCIDENTS:
            if getattr(ticket, path) != getattr(current, path):
                raise _refuse(path)
        else:
            raise _refuse(path, "cannot be written to PagerDuty")
    if not incident:
        return None
    return {"incident": {"type": "incident_reference", **incident}}


# -- notes, services -----------------------------------------------------------------


def comment_from_note(note: Mapping[str, Any], ticket_id: str) -> ticket_pb2.Comment:
    """An incident note as a Comment; creator is the note's user id (a bot user's
    id when a service wrote it)."""
    user = _obj(note.get("user"))
    comment = ticket_pb2.Comment(
        id=_str(note.get("id")),
        ticket_id=ticket_id,
        creator=_str(user.get("id")),
        content=_str(note.get("content")),
    )
    _set_time(comment.created_at, note.get("created_at"))
    if not _set_time(comment.updated_at, note.get("updated_at")):
        _set_time(comment.updated_at, note.get("created_at"))
    rest: dict[str, Any] = {k: v for k, v in note.items() if k not in ("id", "content")}
    rest.pop("created_at", None)
    rest.pop("updated_at", None)
    comment.unmapped.CopyFrom(_struct(rest))
    return comment


def project_from_service(service: Mapping[str, Any]) -> ticket_pb2.Project:
    """A service as a Project: id, name, and the rest (description, status,
    escalation_policy, teams, html_url, ...) unmapped."""
    project = ticket_pb2.Project(
        id=_str(service.get("id")), name=_str(service.get("name") or service.get("summary"))
    )
    project.unmapped.CopyFrom(_rest(service, ("id", "name", "type", "self")))
    return project


# -- escalation policies and on-call ---------------------------------------------------

_USER_TARGETS = frozenset({"user", "user_reference"})
_SCHEDULE_TARGETS = frozenset({"schedule", "schedule_reference", "schedule_v3_reference"})


def escalation_policy_from_pd(policy: Mapping[str, Any]) -> ticket_pb2.EscalationPolicy:
    """An escalation policy: rules in order, delay in seconds, user targets as agent
    summaries and schedule targets as schedule summaries.

    Unmapped: num_loops, on_call_handoff_notifications, services, teams,
    html_url, summary; rule attributes the model has no room for
    (escalation_rule_assignment_strategy) under `escalation_rules`, and
    targets of another type under `other_targets`.
    """
    out = ticket_pb2.EscalationPolicy(
        id=_str(policy.get("id")),
        name=_str(policy.get("name") or policy.get("summary")),
        description=_str(policy.get("description")),
    )
    rule_extras: list[dict[str, Any]] = []
    others: list[Any] = []
    for raw in policy.get("escalation_rules") or ():
        rule = _obj(raw)
        delay = rule.get("escalation_delay_in_minutes")
        minutes = delay if isinstance(delay, int | float) and not isinstance(delay, bool) else 0
        mapped = out.rules.add(id=_str(rule.get("id")), delay_seconds=int(minutes * 60))
        for target in rule.get("targets") or ():
            kind = _str(_obj(target).get("type"))
            if kind in _USER_TARGETS:
                mapped.actors.add(agent_summary=_summary(target))
            elif kind in _SCHEDULE_TARGETS:
                mapped.actors.add(schedule_summary=_summary(target))
            else:
                others.append({"rule_id": mapped.id, "target": target})
        extra = {
            k: v
            for k, v in rule.items()
            if k not in ("id", "escalation_delay_in_minutes", "targets") and v is not None
        }
        if extra:
            rule_extras.append({"id": mapped.id, **extra})
    rest = {
        k: v
        for k, v in policy.items()
        if k not in ("id", "name", "description", "escalation_rules", "type", "self")
    }
    if rule_extras:
        rest["escalation_rules"] = rule_extras
    if others:
        rest["other_targets"] = others
    out.unmapped.CopyFrom(_struct(rest))
    return out


def agent_from_user(user: Mapping[str, Any]) -> ticket_pb2.Agent:
    """A user (a full object with include[]=users, else a reference) as an Agent.

    The phone number would need the user's contact methods (one more request
    each), so it stays empty.
    """
    agent = ticket_pb2.Agent(
        uid=_str(user.get("id")),
        full_name=_str(user.get("name") or user.get("summary")),
        email_addr=_str(user.get("email")),
        time_zone=_str(user.get("time_zone")),
        job_title=_str(user.get("job_title")),
    )
    agent.unmapped.CopyFrom(
        _rest(user, ("id", "name", "summary", "email", "time_zone", "job_title", "type", "self"))
    )
    return agent


def on_call_from_pd(oncall: Mapping[str, Any]) -> ticket_pb2.OnCall:
    """An on-call entry; start/end are null (unset here) for a permanent on-call."""
    out = ticket_pb2.OnCall(
        agent=agent_from_user(_obj(oncall.get("user"))),
        escalation_policy=_summary(oncall.get("escalation_policy")),
    )
    level = oncall.get("escalation_level")
    if isinstance(level, int) and not isinstance(level, bool):
        out.escalation_level = level
    if isinstance(oncall.get("schedule"), Mapping) and oncall["schedule"].get("id"):
        out.schedule.CopyFrom(_summary(oncall["schedule"]))
    _set_time(out.start_time, oncall.get("start"))
    _set_time(out.end_time, oncall.get("end"))
    mapped = ("user", "escalation_policy", "escalation_level", "schedule", "start", "end")
    out.unmapped.CopyFrom(_rest(oncall, mapped))
    return out


# -- filters -------------------------------------------------------------------------


def _values(condition: Condition) -> list[str]:
    return list(dict.fromkeys(str(v) for v in condition.values))


def _intersect(conditions: Iterable[Condition]) -> list[str] | None:
    """The values every condition allows (single-valued fields); None without conditions."""
    allowed: list[str] | None = None
    for condition in conditions:
        values = _values(condition)
        allowed = values if allowed is None else [v for v in allowed if v in values]
    return allowed


def _bounds(
    conditions: Iterable[Condition], lower: frozenset[Op], upper: frozenset[Op]
) -> tuple[datetime | None, datetime | None]:
    low: datetime | None = None
    high: datetime | None = None
    for condition in conditions:
        moment = condition.values[0]
        if not isinstance(moment, datetime):
            continue
        if condition.op in lower:
            low = moment if low is None else max(low, moment)
        elif condition.op in upper:
            high = moment if high is None else min(high, moment)
    return low, high


def _unexpected(condition: Condition, operator: str) -> InvalidArgument:
    return InvalidArgument(
        f"{operator}: PagerDuty cannot filter on {condition.field}[{condition.op.value}]",
        reason="INVALID_FILTER",
    )


Record = Callable[[Mapping[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class ListSearch:
    """A list request: its parameters and the conditions re-checked on each item."""

    params: Params
    check: Query
    schema: QuerySchema
    record: Record
    """The fields of an item the conditions are checked against."""
    empty: bool = False
    """No item can match (contradictory conditions): nothing needs to be fetched."""

    def keep(self, item: Mapping[str, Any]) -> bool:
        """Whether an item PagerDuty listed satisfies every condition."""
        return not self.empty and bool(apply(self.check, [self.record(item)], self.schema))


@dataclass(frozen=True)
class IncidentSearch(ListSearch):
    """GET /incidents parameters, or the ids to read one by one."""

    ids: tuple[str, ...] | None = None
    """Set when the filter names ids: those incidents are read with GET /incidents/{id}."""

    def select(self, incidents: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
        """The incidents that match, in the query's order (then by id)."""
        if self.empty:
            return []
        by_id = {_str(i.get("id")): i for i in incidents}
        records = [self.record(i) for i in by_id.values()]
        chosen = apply(self.check, records, self.schema)
        return [by_id[str(r["id"])] for r in chosen]


def incident_record(incident: Mapping[str, Any]) -> dict[str, Any]:
    """The fields filters are checked against."""
    return {
        "id": _str(incident.get("id")),
        "status": _str(incident.get("status")).lower(),
        "project": _str(_obj(incident.get("service")).get("id")),
        "assignee": assignee_ids(incident),
        "created_at": incident.get("created_at"),
    }


def incident_search(query: Query, *, now: datetime | None = None) -> IncidentSearch:
    """GET /incidents parameters (without limit/offset) for a query_tickets query."""
    by_field: dict[str, list[Condition]] = {}
    check: list[Condition] = []
    for condition in query.conditions:
        spec = TICKET_SCHEMA.fields.get(condition.field)
        if spec is None or condition.op not in spec.ops:
            raise _unexpected(condition, "query_tickets")
        if condition.field == "status":
            values = [check_status(str(v)) for v in condition.values]
            condition = Condition("status", condition.op, tuple(values))
        by_field.setdefault(condition.field, []).append(condition)
        check.append(condition)
    if len(query.order) > 1:
        raise InvalidArgument(
            "query_tickets: PagerDuty orders incidents by one key here (created_at)",
            reason="INVALID_ORDER",
        )
    for key in query.order:
        if key.field != "created_at":
            raise InvalidArgument(
                f"query_tickets: PagerDuty cannot order incidents by {key.field}",
                reason="INVALID_ORDER",
            )
    recheck = Query(tuple(check), tuple(query.order))
    empty = False
    params: list[tuple[str, str]] = []

    def add(name: str, values: list[str] | None) -> None:
        nonlocal empty
        if values is None:
            return
        if not values:
            empty = True
        params.extend((name, v) for v in values)

    add("statuses[]", _intersect(by_field.get("status", ())))
    add("service_ids[]", _intersect(by_field.get("project", ())))
    assignees = by_field.get("assignee")
    if assignees:  # several assignees per incident: send one set, re-check the others
        add("user_ids[]", _values(assignees[0]))
    low, high = _bounds(by_field.get("created_at", ()), _LOWER, _UPPER)
    if low is not None and high is not None and low > high:
        empty = True
    since = None if low is None else low - WIDEN
    until = None
    if since is not None:
        until = high + WIDEN if high is not None else (now or datetime.now(UTC)) + CLOCK_MARGIN
    if since is not None and until is not None and until - since <= MAX_WINDOW:
        params += [("since", format_time(since)), ("until", format_time(until))]
    else:
        params.append(("date_range", "all"))
    for key in query.order:
        params.append(("sort_by", f"created_at:{'desc' if key.descending else 'asc'}"))
    ids = _intersect(by_field.get("id", ()))
    if ids is not None and not ids:
        empty = True
    return IncidentSearch(
        params=tuple(params),
        check=recheck,
        schema=TICKET_SCHEMA,
        record=incident_record,
        empty=empty,
        ids=None if ids is None else tuple(ids),
    )


def _like_text(value: str) -> str:
    parts = [part for part in value.split("*") if part]
    return max(parts, key=len) if parts else ""


def policy_record(policy: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": _str(policy.get("id")),
        "name": _str(policy.get("name") or policy.get("summary")),
        "team_id": [_str(_obj(t).get("id")) for t in policy.get("teams") or ()],
    }


def escalation_policy_search(query: Query) -> ListSearch:
    """GET /escalation_policies parameters (without limit/offset)."""
    params: list[tuple[str, str]] = []
    check: list[Condition] = []
    search = ""
    users: list[Condition] = []
    teams: list[Condition] = []
    for condition in query.conditions:
        spec = ESCALATION_POLICY_SCHEMA.fields.get(condition.field)
        if spec is None or condition.op not in spec.ops:
            raise _unexpected(condition, "query_escalation_policies")
        if condition.field == "name":
            text = str(condition.values[0])
            candidate = _like_text(text) if condition.op is Op.LIKE else text
            search = max(search, candidate, key=len)
            check.append(condition)
        elif condition.field == "user_id":
            users.append(condition)
        elif condition.field == "team_id":
            teams.append(condition)
            check.append(condition)
        else:
            check.append(condition)
    if len(users) > 1:
        raise InvalidArgument(
            "query_escalation_policies: give user_id once (PagerDuty matches policies "
            "targeting any of a set of users; use user_id[in]a,b)",
            reason="INVALID_FILTER",
        )
    if search:
        params.append(("query", search))
    if users:
        params += [("user_ids[]", v) for v in _values(users[0])]
    if teams:
        params += [("team_ids[]", v) for v in _values(teams[0])]
    for key in query.order[:1]:
        params.append(("sort_by", f"name:{'desc' if key.descending else 'asc'}"))
    if len(query.order) > 1:
        raise InvalidArgument(
            "query_escalation_policies: PagerDuty orders policies by name only",
            reason="INVALID_ORDER",
        )
    return ListSearch(
        params=tuple(params),
        check=Query(tuple(check)),
        schema=ESCALATION_POLICY_SCHEMA,
        record=policy_record,
    )


_FOREVER_AGO = "0001-01-01T00:00:00Z"
_FOREVER = "9999-12-31T23:59:59Z"


def on_call_record(oncall: Mapping[str, Any]) -> dict[str, Any]:
    start, end = oncall.get("start"), oncall.get("end")
    return {
        "escalation_policy_id": _str(_obj(oncall.get("escalation_policy")).get("id")),
        "schedule_id": _str(_obj(oncall.get("schedule")).get("id")),
        "user_id": _str(_obj(oncall.get("user")).get("id")),
        "start_time": start if isinstance(start, str) and start else _FOREVER_AGO,
        "end_time": end if isinstance(end, str) and end else _FOREVER,
    }


def on_call_search(query: Query) -> ListSearch:
    """GET /oncalls parameters (without include[], limit and offset)."""
    by_field: dict[str, list[Condition]] = {}
    for condition in query.conditions:
        spec = ON_CALL_SCHEMA.fields.get(condition.field)
        if spec is None or condition.op not in spec.ops:
            raise _unexpected(condition, "list_on_call")
        by_field.setdefault(condition.field, []).append(condition)
    params: list[tuple[str, str]] = []
    empty = False
    for name, param in (
        ("escalation_policy_id", "escalation_policy_ids[]"),
        ("schedule_id", "schedule_ids[]"),
        ("user_id", "user_ids[]"),
    ):
        values = _intersect(by_field.get(name, ()))
        if values is not None:
            empty = empty or not values
            params += [(param, v) for v in values]
    low, _ = _bounds(by_field.get("end_time", ()), _LOWER, _UPPER)
    _, high = _bounds(by_field.get("start_time", ()), _LOWER, _UPPER)
    if low is not None:
        params.append(("since", format_time(low - WIDEN)))
    if high is not None:
        params.append(("until", format_time(high + WIDEN)))
    if low is not None and high is not None and low > high:
        empty = True
    return ListSearch(
        params=tuple(params),
        check=Query(tuple(query.conditions)),
        schema=ON_CALL_SCHEMA,
        record=on_call_record,
        empty=empty,
    )


# -- errors --------------------------------------------------------------------------


def error_text(status: int, body: bytes) -> str:
    """PagerDuty's `{"error": {"message", "code", "errors": [...]}}` as one line."""
    try:
        data = json.loads(body)
    except ValueError:
        return body_excerpt(status, body)
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, str) and error:
        return error
    if not isinstance(error, dict):
        return body_excerpt(status, body)
    message = _str(error.get("message")).strip()
    code = error.get("code")
    details = [str(e).strip() for e in error.get("errors") or () if str(e).strip()]
    text = message
    if isinstance(code, int) and not isinstance(code, bool):
        text = f"{text} (code {code})" if text else f"code {code}"
    if details:
        text = f"{text}: {'; '.join(details)}" if text else "; ".join(details)
    return text or body_excerpt(status, body)
