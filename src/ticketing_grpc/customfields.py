"""custom_field_mappings resolution: `*` entries plus per-project ones, the
project's own entry winning."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from ticketing.v1 import integrations_pb2

ALL_PROJECTS = "*"


@dataclass(frozen=True)
class CustomFields:
    by_project: Mapping[str, Mapping[str, str]]
    """project id (or `*`) -> custom field name -> provider_field_path."""

    @classmethod
    def from_mappings(cls, mappings: Iterable[integrations_pb2.CustomFieldMapping]) -> CustomFields:
        table: dict[str, dict[str, str]] = {}
        for m in mappings:
            table.setdefault(m.project_id, {})[m.name] = m.provider_field_path or m.name
        return cls(MappingProxyType({k: MappingProxyType(v) for k, v in table.items()}))

    def for_project(self, project: str) -> Mapping[str, str]:
        """Every custom field usable on tickets of `project`: name -> provider path."""
        merged = dict(self.by_project.get(ALL_PROJECTS, {}))
        if project != ALL_PROJECTS:
            merged.update(self.by_project.get(project, {}))
        return merged

    def names(self) -> frozenset[str]:
        """Every custom field name mapped for any project."""
        return frozenset(name for fields in self.by_project.values() for name in fields)
