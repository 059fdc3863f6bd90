"""In-memory fakes of the providers' HTTP APIs, checked against their published descriptions.

- :mod:`tests.fakes.spec`: ``OpenAPISpec``, an OpenAPI 3.0 request/response checker.
- :mod:`tests.fakes.base`: ``FakeServer``, the plumbing every fake shares (server
  lifecycle, request log, fault switch, violations).
- :mod:`tests.fakes.jira`: ``FakeJira``, Jira Cloud REST v3 on a real socket.
- :mod:`tests.fakes.jql`: the JQL subset ``FakeJira`` understands.

The descriptions themselves live in the shared folder (``SHARED`` in ``tests/conftest.py``)
and are never copied into this repository.
"""

from .jira import FakeJira, adf, adf_text
from .spec import OpenAPISpec, load_spec

__all__ = ["FakeJira", "OpenAPISpec", "adf", "adf_text", "load_spec"]
