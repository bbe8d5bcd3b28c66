"""Error text a tenant may read: no server file paths.

Exception texts end up where a tenant reads them (run records, dead letters, the task history,
``executeTask`` answers), and many carry paths: ``OSError`` names its file, a broken setting
names its file, a Redis error may name its socket. Paths say how the server is laid out, so
each absolute path keeps only its last part (the file name), which still says what went wrong.
The full text stays in the server's own logs.
"""

from __future__ import annotations

import re

# An absolute path of two or more parts ("/srv/app/backups/x.json"). The look-behind skips a
# URL's path ("https://host/a/b": the "/" follows a host character) and "//" itself. Each part
# is a run of characters that "/" ends, so matching is linear in the text.
_PATH = re.compile(r"(?<![\w:/.~+\-])/(?:[\w.~+\-]+/)+([\w.~+\-]*)")


def without_paths(text: str) -> str:
    """``text`` with each absolute file path cut down to its file name."""
    return _PATH.sub(lambda match: match.group(1) or "[path]", text)


def describe(exc: BaseException) -> str:
    """An unexpected exception as a tenant may see it: its type and its text, paths cut."""
    return f"{type(exc).__name__}: {without_paths(str(exc))}"
