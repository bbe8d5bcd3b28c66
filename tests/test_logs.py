"""Logs: one JSON object per line with the execution's fields, and never a secret, both in the
formatter itself and in the real `scheduler api`, `beat` and `worker` processes."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

import pytest
import requests

from shared import logs
from shared.accounts import create_account, load_secret_key
from shared.config import Config
from shared.contract import TargetKind
from shared.execution import Execution
from shared.model import Target
from shared.store import Store
from tests.support import HttpReceiver, ProcessGroup, basic, free_port, iso, now_ms, wait_until

# --- the formatter and the redaction, in process ---------------------------------------------


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        (
            '"GET /api/v1/api.php?userkey=Zm9vYmFy_12-x&target=scheduler HTTP/1.1" 200',
            "Zm9vYmFy_12-x",
        ),
        ("{'master_secret': 'p4ss w0rd', 'appkey': 'a1'}", "p4ss w0rd"),
        ('{"webhook_secret": "whsec_QUJDREVG+/="}', "QUJDREVG"),
        ("headers: {'Authorization': 'Basic YWJjOmRlZg=='}", "YWJjOmRlZg=="),
        ("Authorization: Bearer abc.def.ghi", "abc.def.ghi"),
        ("sent with Bearer 0123456789abcdefXYZ", "0123456789abcdefXYZ"),
        ("SCHEDULER_SECRET_KEY=k3y-k3y-k3y", "k3y-k3y-k3y"),
        ("signing with whsec_c2VjcmV0c2VjcmV0", "c2VjcmV0c2VjcmV0"),
        ("password=hunter2;next", "hunter2"),
        ("POST https://bob:s3cr3t@example.com/hook failed", "s3cr3t"),
        ("Redis at redis://:r3dispass@10.0.0.5:6379/0 refused", "r3dispass"),
    ],
)
def test_secrets_are_redacted(text: str, secret: str) -> None:
    redacted = logs.redact(text)
    assert secret not in redacted
    assert logs.REDACTED in redacted


@pytest.mark.parametrize(
    "text",
    [
        "basic authentication failed for appkey 4ea0dfcc",
        "master_secret_sha256 stored",
        "webhook_secret_generation: 2",
        "execution 8570dc2b:1795431596840 attempt 1: succeeded",
    ],
)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert logs.redact(text) == text


def test_a_registered_secret_is_redacted_anywhere() -> None:
    logs.register_secret("a-literal-secret-value")
    assert logs.redact("key is a-literal-secret-value!") == "key is [redacted]!"


def format_json(record: logging.LogRecord) -> dict[str, Any]:
    handler = logs.make_handler("json")
    for f in handler.filters:
        f.filter(record)  # type: ignore[union-attr]
    line = handler.format(record)
    assert "\n" not in line
    return json.loads(line)


def make_record(msg: str, *args: Any, exc: bool = False, **extra: Any) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise ValueError("boom with userkey=SECRETVALUE99")
        except ValueError as error:
            exc_info = (type(error), error, error.__traceback__)
    record = logging.LogRecord("workers.runner", logging.INFO, __file__, 1, msg, args, exc_info)
    record.__dict__.update(extra)
    return record


def test_json_line_carries_the_execution_context() -> None:
    execution = Execution(
        id="s1:1000",
        schedule="s1",
        account="acct",
        dialect="webhook_jobs",
        due_ms=1000,
        attempt=2,
        target=Target(TargetKind.WEBHOOK),
    )
    with logs.execution_context(**logs.execution_fields(execution)):
        entry = format_json(make_record("execution %s: %s", "s1:1000", "succeeded"))
    assert entry["message"] == "execution s1:1000: succeeded"
    assert (entry["level"], entry["logger"]) == ("info", "workers.runner")
    fields = ("schedule", "execution", "account", "dialect", "attempt")
    assert {k: entry[k] for k in fields} == {
        "schedule": "s1",
        "execution": "s1:1000",
        "account": "acct",
        "dialect": "webhook_jobs",
        "attempt": 2,
    }
    # outside the block, only what ``extra=`` gives
    outside = format_json(make_record("misfire", schedule="s2"))
    assert outside["schedule"] == "s2" and "execution" not in outside


def test_a_traceback_stays_on_one_line_and_is_redacted() -> None:
    entry = format_json(make_record("delivery raised", exc=True))
    assert "ValueError" in entry["exception"]
    assert "SECRETVALUE99" not in json.dumps(entry)


def test_text_format_appends_the_fields() -> None:
    handler = logs.make_handler("text")
    record = make_record("execution done", schedule="s1", execution="s1:1")
    assert handler.format(record).endswith("execution done schedule=s1 execution=s1:1")


def test_an_unknown_log_format_is_refused() -> None:
    with pytest.raises(Exception, match="SCHEDULER_LOG_FORMAT"):
        Config.from_env({"SCHEDULER_LOG_FORMAT": "xml"})


# --- real processes --------------------------------------------------------------------------


def start_cli(processes: ProcessGroup, *argv: str, **settings: Any) -> Path:
    """Start `scheduler <argv>` as a real process; the path of its log."""
    log = processes.workdir / f"proc-{len(processes.procs)}.log"
    processes.start(["scheduler_cli", *argv], **settings)
    return log


# Celery's signal handlers write these straight to stdout, bypassing logging on purpose (logging
# is not safe inside a signal handler); they are the only lines that are not JSON.
CELERY_SIGNAL_NOTICE = re.compile(r"^worker: (Warm|Cold) shutdown \(MainProcess\)$")


def json_lines(path: Path) -> list[dict[str, Any]]:
    """Every line of a process's output, each parsed as JSON (fails on any other line)."""
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    return [json.loads(line) for line in lines if not CELERY_SIGNAL_NOTICE.match(line)]


def test_processes_log_json_with_execution_fields_and_no_secret(
    config: Config, store: Store, processes: ProcessGroup, receiver: HttpReceiver
) -> None:
    secret_key = load_secret_key(config)  # the key file every process of the test reads
    creds = create_account(store, "logged", secret_key=secret_key, now_ms=now_ms())
    port = free_port()
    api_log = start_cli(processes, "api", api_port=port)
    beat_log = start_cli(processes, "beat")
    worker_log = start_cli(processes, "worker", "--pool", "webhooks", "--concurrency", "1")
    api = f"http://127.0.0.1:{port}"

    def api_up() -> bool:
        try:
            return requests.get(f"{api}/healthz", timeout=1).ok
        except requests.RequestException:  # refused, or accepted before a worker is up
            return False

    wait_until(api_up, what="the API process")
    wait_until(store.last_beat_ms, what="the beat process")
    doc = {"url": receiver.url + "/cb", "data": "hi", "when": iso(now_ms() + 500)}
    created = requests.post(f"{api}/1/jobs", json=doc, headers=basic(creds), timeout=5)
    assert created.status_code == 200, created.text
    job_id = created.text
    # Secrets where a careless client puts them: the query string (which the access log shows)
    # and a wrong password.
    query = {"userkey": creds["userkey"], "master_secret": creds["master_secret"]}
    requests.get(f"{api}/1/jobs", params=query, headers=basic(creds), timeout=5)
    wrong = {**creds, "master_secret": creds["master_secret"][::-1]}
    assert requests.get(f"{api}/1/jobs", headers=basic(wrong), timeout=5).status_code == 401
    wait_until(lambda: receiver.count() == 1, what="the callback")

    def worker_entry() -> dict[str, Any] | None:
        done = [e for e in json_lines(worker_log) if e.get("message", "").endswith("succeeded")]
        return done[0] if done and done[0].get("logger") == "workers.runner" else None

    entry = wait_until(worker_entry, what="the worker logging the execution")
    assert entry["schedule"] == job_id
    assert entry["execution"].startswith(f"{job_id}:")
    assert entry["account"] == creds["appkey"]
    assert entry["dialect"] == "webhook_jobs"
    processes.stop_all()  # flush everything, shutdown lines included

    access = [e["message"] for e in json_lines(api_log) if e["logger"] == "gunicorn.access"]
    assert any('"GET /1/jobs?userkey=[redacted]&' in m for m in access), access
    assert any('"GET /1/jobs HTTP/1.1" 401' in m for m in access), access  # no colour codes
    assert any("claimed 1" in e["message"] for e in json_lines(beat_log))
    assert any(e["message"].endswith("ready.") for e in json_lines(worker_log))
    everything = "\n".join(p.read_text() for p in (api_log, beat_log, worker_log))
    for name in ("master_secret", "userkey", "webhook_secret"):
        assert creds[name] not in everything, name
    assert secret_key.decode().strip() not in everything
