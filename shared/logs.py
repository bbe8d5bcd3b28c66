"""Process logging: one JSON object per line (or plain text), with execution fields, no secrets.

``configure(log_format, level)`` sets up the root logger of a process (``scheduler api``, beat and
worker processes call it; Celery reaches it through its ``setup_logging`` signal). Every record
then goes through one handler that

- redacts secrets (``RedactSecrets``): values of ``master_secret``, ``userkey``, ``secret_key``,
  ``webhook_secret``, ``password``, ``token`` and ``Authorization`` in any ``key=value``,
  ``key: value`` or JSON/dict spelling, ``Basic``/``Bearer`` credentials, ``whsec_`` signing
  secrets, passwords in URLs (``scheme://user:password@host``), and any literal value
  registered with ``register_secret``;
- adds the fields of the execution being worked on: ``schedule``, ``execution``, ``account``,
  ``dialect`` (and ``attempt``), from ``logging``'s ``extra=`` or from ``execution_context``.

The JSON formatter writes a fixed set of fields, never arbitrary ``extra`` values, so nothing
reaches the log that the redaction did not see.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import re
import sys
import time
import urllib.parse
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # logs are set up before anything else is imported
    from shared.execution import Execution

FORMATS = ("json", "text")
CONTEXT_FIELDS = ("schedule", "execution", "account", "dialect", "attempt")
REDACTED = "[redacted]"

# The names whose values are secrets wherever they appear (query strings, dict reprs, JSON,
# headers, environment dumps). Case-insensitive; "master_secret", "master-secret",
# "SCHEDULER_SECRET_KEY" all match, "master_secret_sha256" (a digest) does not.
_SECRET_NAMES = "|".join(
    (
        r"master[_-]?secret",
        r"user[_-]?key",
        r"secret[_-]?key",
        r"webhook[_-]?secret",
        r"passw(?:or)?d",
        r"token",
        r"authorization",
    )
)
_KEY_VALUE = re.compile(
    rf"""(?P<key>["']?(?<![A-Za-z0-9])(?:{_SECRET_NAMES})(?![A-Za-z0-9_])["']?\s*[:=]\s*)"""
    r"""(?P<value>(?:basic|bearer)\s+[^\s"',&;}]+|"[^"]*"|'[^']*'|[^\s"',&;}]+)""",
    re.IGNORECASE,
)
# An HTTP credential on its own ("Basic dXNlcjpwYXNz"): the scheme as HTTP spells it, then a
# token of 16+ characters with a digit or base64 punctuation (so "Basic authentication" stays).
_CREDENTIAL = re.compile(r"\b(?P<scheme>Basic|Bearer) (?=\S*[0-9+/=])[A-Za-z0-9+/=._~-]{16,}")
_WHSEC = re.compile(r"whsec_[A-Za-z0-9+/=]+")
# The password of a URL's userinfo (a callback URL, REDIS_URL): "scheme://user:<password>@host".
# Anchored on "://", not on the scheme before it: a scheme pattern tried at every position of a
# long run of letters (a 60 KB query string in the access log) rescans the run, quadratic.
_URL_PASSWORD = re.compile(r"(?P<head>://[^/\s:@]*:)[^/\s@]+@")

_ANSI = re.compile(r"\x1b\[[0-9;]*m")  # terminal colours (werkzeug's access log): not for JSON

_literal_secrets: set[str] = set()
_context: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "scheduler_log_context", default=None
)


def register_secret(value: str | bytes) -> None:
    """Redact this exact value from every log line of this process (e.g. the secret key)."""
    text = value.decode(errors="replace") if isinstance(value, bytes) else value
    if len(text.strip()) >= 8:  # a short value would redact ordinary words
        _literal_secrets.add(text.strip())


def redact(text: str) -> str:
    """``text`` with every secret it contains replaced by ``[redacted]``."""
    for secret in _literal_secrets:
        text = text.replace(secret, REDACTED)
    text = _KEY_VALUE.sub(_redact_value, text)
    text = _CREDENTIAL.sub(lambda m: f"{m['scheme']} {REDACTED}", text)
    text = _URL_PASSWORD.sub(lambda m: f"{m['head']}{REDACTED}@", text)
    return _WHSEC.sub(REDACTED, text)


def _redact_value(match: re.Match[str]) -> str:
    value = match["value"]
    quote = value[0] if value[:1] in ("'", '"') else ""
    return f"{match['key']}{quote}{REDACTED}{quote}"


# --- execution fields ------------------------------------------------------------------------


def execution_fields(execution: Execution) -> dict[str, Any]:
    """The log fields of the execution a worker is working on."""
    fields = {
        "schedule": execution.schedule,
        "execution": execution.id,
        "account": execution.account,
        "dialect": execution.dialect,
        "attempt": execution.attempt,
    }
    return {k: v for k, v in fields.items() if v is not None}


@contextlib.contextmanager
def execution_context(**fields: Any) -> Iterator[None]:
    """Every record logged inside the block carries these fields (unless ``extra=`` overrides)."""
    token = _context.set({**(_context.get() or {}), **fields})
    try:
        yield
    finally:
        _context.reset(token)


def record_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The context fields of a record: ``extra=`` values first, then the current context."""
    fields = dict(_context.get() or {})
    for name in CONTEXT_FIELDS:
        value = getattr(record, name, None)
        if value is not None:
            fields[name] = value
    return fields


# --- filter and formatters -------------------------------------------------------------------


class RedactSecrets(logging.Filter):
    """Rewrites each record's message and traceback text with secrets redacted."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        record.exc_info = None  # the redacted exc_text below is what gets written
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": _iso_utc(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "process": record.processName,
            "pid": record.process,
            "message": _ANSI.sub("", record.getMessage()),
        }
        entry.update(record_fields(record))
        if record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = record.stack_info
        return json.dumps(entry, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """Plain lines for a human at a terminal, context fields appended as ``key=value``."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = record_fields(record)
        if fields:
            line += " " + " ".join(f"{k}={v}" for k, v in fields.items())
        return line


def _iso_utc(created: float) -> str:
    millis = int(created * 1000) % 1000
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created)) + f".{millis:03d}Z"


# --- setup -----------------------------------------------------------------------------------


def make_handler(log_format: str) -> logging.Handler:
    if log_format not in FORMATS:
        raise ValueError(f"log format {log_format!r}: use json or text")
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RedactSecrets())
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    return handler


def configure(log_format: str = "json", level: int | str = logging.INFO) -> None:
    """Make the root logger write through one redacting handler in ``log_format``.

    Replaces the root's handlers (so calling it again, as Celery does in each pool process, does
    not duplicate lines) and routes ``warnings`` through logging, so they are JSON too.
    """
    root = logging.getLogger()
    root.handlers = [make_handler(log_format)]
    root.setLevel(level)
    logging.captureWarnings(True)


def register_config_secrets(config: Any) -> None:
    """Redact the service's secret key (from the setting, or its file if one exists)."""
    from shared.accounts import SECRET_KEY_FILE  # here: accounts imports the store

    if config.secret_key:
        register_secret(config.secret_key)
    broker_password = urllib.parse.urlsplit(config.broker_url).password
    if broker_password:  # a broker apart (RabbitMQ) usually has one in its URL
        register_secret(broker_password)
    with contextlib.suppress(OSError):
        register_secret((config.data_path / SECRET_KEY_FILE).read_text())
