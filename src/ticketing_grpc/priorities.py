"""Provider priorities <-> the common `Priority` enum (ticket.proto).

Each provider gets two small tables, one per direction, and a lookup function
for each. Reading is forgiving (an unknown value becomes
PRIORITY_UNSPECIFIED rather than an error, since a ticket with a priority we
cannot name is still a ticket); writing always yields a value the provider's
default scheme accepts.

Jira
    Priorities are named objects (`fields.priority.name`) and each site may
    rename them or use its own scheme, so names are matched without regard to
    case and surrounding blanks, and an integration may pass an override
    mapping (name -> Priority) that is consulted first.

    ==========  ==========  =========================================
    name        Priority    notes
    ==========  ==========  =========================================
    Highest     URGENT      default scheme
    High        HIGH        default scheme
    Medium      MEDIUM      default scheme
    Low         LOW         default scheme
    Lowest      PLANNING    default scheme
    Blocker     URGENT      older scheme
    Critical    CRITICAL    older scheme
    Major       HIGH        older scheme
    Minor       LOW         older scheme
    Trivial     PLANNING    older scheme
    ==========  ==========  =========================================

    Writing uses the default scheme's names only (CRITICAL and URGENT both
    become Highest; MODERATE becomes Medium).

ServiceNow (ITSM and SIR)
    `priority` is a choice field holding "1".."5" (1 Critical .. 5 Planning),
    computed from impact and urgency. URGENT has no code of its own and is
    written as "1"; MEDIUM is written as "3" (Moderate).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from ticketing.v1 import ticket_pb2

UNSPECIFIED: int = ticket_pb2.PRIORITY_UNSPECIFIED
URGENT: int = ticket_pb2.URGENT
CRITICAL: int = ticket_pb2.CRITICAL
HIGH: int = ticket_pb2.HIGH
MEDIUM: int = ticket_pb2.MEDIUM
MODERATE: int = ticket_pb2.MODERATE
LOW: int = ticket_pb2.LOW
PLANNING: int = ticket_pb2.PLANNING

# --- Jira --------------------------------------------------------------------

JIRA_NAME_TO_PRIORITY: Mapping[str, int] = MappingProxyType(
    {
        # Default scheme of a Jira Cloud site.
        "highest": URGENT,
        "high": HIGH,
        "medium": MEDIUM,
        "low": LOW,
        "lowest": PLANNING,
        # The older scheme many long-lived sites still use.
        "blocker": URGENT,
        "critical": CRITICAL,
        "major": HIGH,
        "minor": LOW,
        "trivial": PLANNING,
    }
)
"""Lower-cased Jira priority name -> Priority value."""

PRIORITY_TO_JIRA_NAME: Mapping[int, str] = MappingProxyType(
    {
        URGENT: "Highest",
        CRITICAL: "Highest",
        HIGH: "High",
        MEDIUM: "Medium",
        MODERATE: "Medium",
        LOW: "Low",
        PLANNING: "Lowest",
    }
)
"""Priority value -> the default-scheme Jira name to write."""


def _fold(name: str) -> str:
    return name.strip().casefold()


def jira_priority(name: str | None, overrides: Mapping[str, int] | None = None) -> int:
    """The Priority for a Jira priority name; PRIORITY_UNSPECIFIED if unknown.

    `overrides` (name -> Priority, e.g. from an integration's priority map) is
    matched case-insensitively too and wins over the built-in table.
    """
    if not name:
        return UNSPECIFIED
    key = _fold(name)
    if overrides:
        for override_name, value in overrides.items():
            if _fold(override_name) == key:
                return int(value)
    return JIRA_NAME_TO_PRIORITY.get(key, UNSPECIFIED)


def jira_priority_name(priority: int, overrides: Mapping[str, int] | None = None) -> str | None:
    """The Jira priority name to write for `priority`; None for UNSPECIFIED/unknown.

    When `overrides` maps some name to `priority`, the first such name (in
    the mapping's order) is used, so a site with its own scheme gets its own
    names back.
    """
    if overrides:
        for override_name, value in overrides.items():
            if int(value) == priority and priority != UNSPECIFIED:
                return override_name
    return PRIORITY_TO_JIRA_NAME.get(priority)


BY_URGENCY: tuple[str, ...] = (
    "PLANNING",
    "LOW",
    "MODERATE",
    "MEDIUM",
    "HIGH",
    "CRITICAL",
    "URGENT",
)
"""Priority names from least to most urgent: the one order every provider uses
for `priority[gt|gte|lt|lte]` filters and for ordering by priority, so
`priority[gte]HIGH` means HIGH, CRITICAL or URGENT everywhere."""


# --- ServiceNow --------------------------------------------------------------

SERVICENOW_CODE_TO_PRIORITY: Mapping[str, int] = MappingProxyType(
    {
        "1": CRITICAL,
        "2": HIGH,
        "3": MODERATE,
        "4": LOW,
        "5": PLANNING,
    }
)
"""ServiceNow `priority` choice value -> Priority value."""

PRIORITY_TO_SERVICENOW_CODE: Mapping[int, str] = MappingProxyType(
    {
        URGENT: "1",
        CRITICAL: "1",
        HIGH: "2",
        MEDIUM: "3",
        MODERATE: "3",
        LOW: "4",
        PLANNING: "5",
    }
)
"""Priority value -> ServiceNow `priority` choice value."""


def servicenow_priority(code: str | int | None) -> int:
    """The Priority for a ServiceNow priority code ("1".."5", or 1..5); else UNSPECIFIED."""
    if code is None or isinstance(code, bool):
        return UNSPECIFIED
    return SERVICENOW_CODE_TO_PRIORITY.get(str(code).strip(), UNSPECIFIED)


def servicenow_priority_code(priority: int) -> str | None:
    """The ServiceNow priority code to write for `priority`; None for UNSPECIFIED/unknown."""
    return PRIORITY_TO_SERVICENOW_CODE.get(priority)
