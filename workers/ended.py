"""How one attempt ended, as every pool reports it: in its log line, to Celery (``workers.
task_states``: Flower's succeeded, failed and retried) and to the caller of ``run_execution``.

A failed attempt's line names what an operator needs to act without opening the run record: the
status code or error, the target (the host called, or the class or job run) and the attempt
number, and what happens next (a retry in how long, or a dead letter).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from shared.config import Config
from shared.contract import TargetKind
from shared.errors import ConfigError
from shared.execution import Execution
from shared.task_classes import canonical, registered


@dataclass(frozen=True)
class Ended:
    """``outcome``: "done", "retry", "dead", or why the attempt did not run (a ``Verdict``).
    ``summary``: for a failed attempt, what failed where and what comes next (empty otherwise).
    ``retry_in_s``: for "retry", when our own schedule runs the next attempt."""

    outcome: str
    summary: str = ""
    retry_in_s: float = 0.0


def failure_summary(
    config: Config, execution: Execution, error: str | None, retry_in_s: float | None
) -> str:
    """'attempt 2 to example.com: HTTP 500; retry in 4 s' (or '; dead-lettered')."""
    then = "dead-lettered" if retry_in_s is None else f"retry in {retry_in_s:g} s"
    target = target_of(config, execution)
    return f"attempt {execution.attempt} to {target}: {error or 'failed'}; {then}"


def target_of(config: Config, execution: Execution) -> str:
    """Where an attempt goes: the host it calls, or the class or job it runs."""
    spec = execution.spec
    kind = execution.target.kind
    if kind == TargetKind.WEBHOOK:
        return _host(spec.get("url"))
    if kind == TargetKind.PUSH:
        return _host(config.push_gateway_url)
    if kind == TargetKind.TASK:
        return _task_class(config, str(spec.get("class_name") or ""))
    job = spec.get("job")
    return f"beacon job {job.get('name') if isinstance(job, dict) else '(none)'}"


def _task_class(config: Config, name: str) -> str:
    """'task class X', and the host it is served from if it is an HTTP-mapped class."""
    try:
        source = registered(config).get(canonical(name), "")
    except ConfigError:  # an unreadable classes file: the attempt's error says so
        source = ""
    where = f" at {_host(source)}" if source.startswith(("http://", "https://")) else ""
    return f"task class {name or '(none)'}{where}"


def _host(url: object) -> str:
    if not isinstance(url, str) or not url:
        return "(no URL)"
    try:
        return urlsplit(url).hostname or "(no host)"
    except ValueError:
        return "(bad URL)"
