"""Provider id -> class, for built-ins and entry-point plugins alike.

Plugins are validated when they register (as pluggy does with hooks): an
operator overridden with the wrong shape fails at start-up, not on the first
call that reaches it.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib.metadata import entry_points
from types import MappingProxyType

from .base import OPERATORS, STREAMING, Provider

ENTRY_POINT_GROUP = "ticketing_grpc.providers"


class RegistrationError(TypeError):
    """A provider class cannot be registered."""


def operators_of(cls: type[Provider]) -> tuple[str, ...]:
    """The operators a class supports: those it overrides, in contract order."""
    return tuple(op for op in OPERATORS if getattr(cls, op) is not getattr(Provider, op))


def _check(cls: type[Provider]) -> None:
    if not (isinstance(cls, type) and issubclass(cls, Provider)):
        raise RegistrationError(f"{cls!r} is not a Provider subclass")
    if not cls.id or not cls.display_name:
        raise RegistrationError(f"{cls.__qualname__} must set id and display_name")
    for op in operators_of(cls):
        method, base = getattr(cls, op), getattr(Provider, op)
        streaming = OPERATORS[op] == STREAMING
        ok_kind = (
            inspect.isasyncgenfunction(method) if streaming else inspect.iscoroutinefunction(method)
        )
        if not ok_kind:
            want = "an async generator" if streaming else "an async (coroutine) method"
            raise RegistrationError(f"{cls.__qualname__}.{op} must be {want}")
        got = [p.name for p in inspect.signature(method).parameters.values()]
        want_params = [p.name for p in inspect.signature(base).parameters.values()]
        if got != want_params:
            raise RegistrationError(
                f"{cls.__qualname__}.{op} takes ({', '.join(got)}), "
                f"the contract needs ({', '.join(want_params)})"
            )
    for op in cls.filter_schemas:
        if op not in OPERATORS:
            raise RegistrationError(f"{cls.__qualname__}.filter_schemas names unknown {op!r}")


@dataclass(frozen=True)
class Registry:
    """A read-only view of the registered providers."""

    providers: Mapping[str, type[Provider]]

    def get(self, provider_id: str) -> type[Provider] | None:
        return self.providers.get(provider_id)

    def __contains__(self, provider_id: object) -> bool:
        return provider_id in self.providers


def build_registry(classes: Iterable[type[Provider]]) -> Registry:
    found: dict[str, type[Provider]] = {}
    for cls in classes:
        _check(cls)
        if cls.id in found:
            raise RegistrationError(
                f"provider id {cls.id!r} registered twice: "
                f"{found[cls.id].__module__} and {cls.__module__}"
            )
        found[cls.id] = cls
    return Registry(MappingProxyType(dict(sorted(found.items()))))


def default_registry() -> Registry:
    """Every provider of the entry-point group; built-ins register there too."""
    return build_registry(ep.load() for ep in entry_points(group=ENTRY_POINT_GROUP))
