"""OpenAPI 3 for every dialect: what views and dialects say (``marks``), the document built from
the app's routes (``builder``), and the pages that serve it (``pages``: ``/openapi.json`` and the
API reference at ``/docs``).

A dialect documents itself on its own blueprint: ``@documented(...)`` on each view, ``errors``
and ``about`` once, and ``part(bp, function)`` for anything more (a function of the dialect's
package that adds its security schemes or components to the document): nothing here names a
dialect. The fuzz test (tests/test_fuzz_all.py) checks every answer against these shapes.
"""

from scheduler_api.openapi.builder import PATH_PARAM, SKIPPED_METHODS, build_spec, is_static
from scheduler_api.openapi.marks import (
    JSON,
    Answer,
    Reply,
    Shape,
    Text,
    about,
    documented,
    errors,
    part,
)
from scheduler_api.openapi.pages import HTML_PAGE, RATE_LIMITED, blueprint

__all__ = [
    "HTML_PAGE",
    "JSON",
    "PATH_PARAM",
    "RATE_LIMITED",
    "SKIPPED_METHODS",
    "Answer",
    "Reply",
    "Shape",
    "Text",
    "about",
    "blueprint",
    "build_spec",
    "documented",
    "errors",
    "is_static",
    "part",
]
