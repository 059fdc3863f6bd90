"""One servicer per proto service: resolve the integration, validate, dispatch."""

from typing import Any, TypeAlias

from grpc.aio import ServicerContext

Context: TypeAlias = ServicerContext[Any, Any]
