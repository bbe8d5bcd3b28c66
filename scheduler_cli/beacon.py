"""``scheduler beacon``: the reference beacon agent for the "Jobs" API (``/api/jobs``).

It polls for its beacon's queued jobs
(``GET /api/jobs?action=list&beacon_name=NAME&status=queued``), picks one up, starts it, runs its
tasks in order while reporting ``curtask``, and finishes it with one ``result[]`` per task.
Task kinds:

- ``{"type": "shell", "command": "...", "timeout": 60}``: run with ``/bin/sh``; ok on exit 0.
- ``{"type": "http", "url": "...", "method": "GET", "headers": {}, "body": "...", "timeout": 30}``
  (or ``"json": {...}`` instead of ``body``): ok on a status below 400.

The first failed task ends the run: the tasks after it are reported as skipped. An unreachable
API (or a 5xx) is retried with exponential backoff, so the agent outlives API restarts.

SIGTERM (or Ctrl-C) stops it cleanly: a running shell task is terminated, and the current job is
FINISHED with the results so far (the interrupted task "stopped", the rest "skipped"); a job
picked up but not yet started is left alone, and its pickup lease returns it to the queue.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from typing import Any

import requests

from shared.config import Config
from shared.retry import compute_backoff, parse_retry_after
from shared.timing import now_ms

OUTPUT_CAP = 4096  # characters of stdout/stderr/body kept per task result
REQUEST_TIMEOUT_S = 10.0
STOP_GRACE_S = 10.0  # after SIGTERM, how long the agent keeps trying to report the current job
DEFAULT_SHELL_TIMEOUT_S = 60.0
DEFAULT_HTTP_TIMEOUT_S = 30.0


class AgentError(Exception):
    """The agent can't go on (e.g. its userkey is refused)."""


class Agent:
    def __init__(
        self,
        url: str,
        name: str,
        userkey: str,
        *,
        poll_s: float = 5.0,
        max_backoff_s: float = 60.0,
        once: bool = False,
    ) -> None:
        self.url = url.rstrip("/")
        self.name = name
        self.userkey = userkey
        self.poll_s = poll_s
        self.max_backoff_s = max_backoff_s
        self.once = once
        self.stop = threading.Event()
        self.session = requests.Session()
        self._child: subprocess.Popen[bytes] | None = None

    # --- the loop ------------------------------------------------------------------------

    def run(self) -> int:
        log(f"beacon {self.name!r} polling {self.url}")
        while not self.stop.is_set():
            job = self.next_job()
            if job is not None:
                self.run_job(job)
                continue
            if self.once:
                break
            self.stop.wait(self.poll_s)
        log(f"beacon {self.name!r} stopped")
        return 0

    def next_job(self) -> dict[str, Any] | None:
        """Pick up the first eligible queued job of this beacon, or None."""
        params = {"action": "list", "beacon_name": self.name, "status": "queued"}
        listed = self.call("GET", "/api/jobs", params)
        if listed is None or listed.status_code != 200:
            return None
        now_s = now_ms() / 1000
        queued = sorted(listed.json(), key=lambda j: (j.get("q_time") or 0, j["id"]))
        for job in queued:
            if (job.get("q_time") or 0) > now_s or self.stop.is_set():
                continue
            params = {"action": "pickup", "beacon_name": self.name}
            picked = self.call("POST", f"/api/jobs/{job['id']}", params)
            if picked is not None and picked.status_code == 200:
                log(f"picked up job {job['id']} ({job['name']!r})")
                return picked.json()
        return None

    def run_job(self, job: dict[str, Any]) -> None:
        path = f"/api/jobs/{job['id']}"
        if self.stop.is_set():
            return  # not started: the pickup lease puts it back in the queue
        started = self.call("POST", path, {"action": "start"})
        if started is None or started.status_code != 200:
            log(f"job {job['id']}: could not start it ({describe(started)})")
            return
        results = self.run_tasks(job)
        data = [("action", "end")] + [("result[]", json.dumps(r)) for r in results]
        ended = self.call("POST", path, data, grace=True)
        log(f"job {job['id']}: finished ({describe(ended)})")

    def run_tasks(self, job: dict[str, Any]) -> list[dict[str, Any]]:
        results: list[dict[str, Any]] = []
        reason = ""
        for n, task in enumerate(job.get("tasks") or []):
            if not reason and self.stop.is_set():
                reason = "the agent was stopped"
            if reason:
                results.append({"type": task.get("type"), "status": "skipped", "error": reason})
                continue
            self.call("POST", f"/api/jobs/{job['id']}", {"action": "update", "curtask": n})
            result = self.run_task(task)
            results.append(result)
            if result["status"] != "ok":
                reason = f"task {n} {result['status']}"
        return results

    # --- tasks ---------------------------------------------------------------------------

    def run_task(self, task: dict[str, Any]) -> dict[str, Any]:
        kind = task.get("type")
        started = time.monotonic()
        if kind == "shell":
            result = self.run_shell(task)
        elif kind == "http":
            result = run_http(task)
        else:
            result = {"status": "failed", "error": f"unknown task type {kind!r}: shell or http"}
        result["duration_s"] = round(time.monotonic() - started, 3)
        return {"type": kind, **result}

    def run_shell(self, task: dict[str, Any]) -> dict[str, Any]:
        command = task.get("command")
        if not isinstance(command, str) or not command:
            return {"status": "failed", "error": "shell task needs a command"}
        timeout = float(task.get("timeout", DEFAULT_SHELL_TIMEOUT_S))
        child = subprocess.Popen(
            command,
            shell=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,  # its own group: a timeout or SIGTERM ends its children too
        )
        self._child = child
        if self.stop.is_set():  # SIGTERM came between the last check and the spawn
            kill_group(child, signal.SIGTERM)
        status = "ok"
        try:
            out, err = child.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            kill_group(child, signal.SIGKILL)
            out, err = child.communicate()
            status = "timeout"
        finally:
            self._child = None
        if status == "ok" and self.stop.is_set() and child.returncode < 0:
            status = "stopped"
        elif status == "ok" and child.returncode != 0:
            status = "failed"
        return {
            "status": status,
            "exit_code": child.returncode,
            "stdout": out.decode(errors="replace")[-OUTPUT_CAP:],
            "stderr": err.decode(errors="replace")[-OUTPUT_CAP:],
        }

    # --- the API -------------------------------------------------------------------------

    def call(
        self, method: str, path: str, params: Any, *, grace: bool = False
    ) -> requests.Response | None:
        """One API call; connection errors, 429 and 5xx answers are retried with backoff. Gives up
        (None) once stopped, or ``STOP_GRACE_S`` after the stop with ``grace``. A 401 is fatal."""
        items = list(params.items()) if isinstance(params, dict) else list(params)
        items.append(("userkey", self.userkey))
        give_up_at: float | None = None
        attempt = 0
        while True:
            try:
                if method == "GET":
                    response = self.session.get(
                        self.url + path, params=items, timeout=REQUEST_TIMEOUT_S
                    )
                else:
                    response = self.session.post(
                        self.url + path, data=items, timeout=REQUEST_TIMEOUT_S
                    )
                if response.status_code == 401:
                    raise AgentError(f"the API refused the userkey: {describe(response)}")
                if response.status_code < 500 and response.status_code != 429:
                    return response
                problem = describe(response)
                retry_after = response.headers.get("Retry-After")
                retry_after_s = parse_retry_after(retry_after, now_ms=now_ms())
            except requests.RequestException as exc:
                problem, retry_after_s = type(exc).__name__, None
            attempt += 1
            # A 429 (rate limited) waits at least what the API's Retry-After asks for.
            delay = compute_backoff(
                attempt, base_s=0.25, max_s=self.max_backoff_s, retry_after_s=retry_after_s
            )
            if self.stop.is_set():
                if not grace:
                    return None
                give_up_at = give_up_at or time.monotonic() + STOP_GRACE_S
                if time.monotonic() + delay > give_up_at:
                    log(f"{method} {path}: API unavailable ({problem}); giving up after stop")
                    return None
                time.sleep(delay)
                continue
            log(f"{method} {path}: API unavailable ({problem}); retrying in {delay:.1f} s")
            self.stop.wait(delay)

    # --- stopping ------------------------------------------------------------------------

    def request_stop(self, *_: Any) -> None:
        """SIGTERM/SIGINT: stop polling; end a running shell task (its job is then finished)."""
        self.stop.set()
        child = self._child
        if child is not None and child.poll() is None:
            kill_group(child, signal.SIGTERM)


def run_http(task: dict[str, Any]) -> dict[str, Any]:
    url = task.get("url")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        return {"status": "failed", "error": "http task needs an http:// or https:// url"}
    try:
        response = requests.request(
            str(task.get("method", "GET")).upper(),
            url,
            headers=task.get("headers") or None,
            data=task.get("body"),
            json=task.get("json"),
            timeout=float(task.get("timeout", DEFAULT_HTTP_TIMEOUT_S)),
        )
    except (requests.RequestException, ValueError, TypeError) as exc:
        return {"status": "failed", "error": f"{type(exc).__name__}: {exc}"[:OUTPUT_CAP]}
    return {
        "status": "ok" if response.status_code < 400 else "failed",
        "http_status": response.status_code,
        "body": response.text[:OUTPUT_CAP],
    }


def kill_group(child: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(child.pid, sig)


def describe(response: requests.Response | None) -> str:
    if response is None:
        return "no answer"
    try:
        return f"HTTP {response.status_code}: {response.json().get('error', 'ok')}"
    except (ValueError, AttributeError):
        return f"HTTP {response.status_code}"


def log(message: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} beacon: {message}", file=sys.stderr, flush=True)


# --- the command -----------------------------------------------------------------------------


def cmd_beacon(args: argparse.Namespace, config: Config) -> int:
    agent = Agent(
        args.url,
        args.name,
        args.userkey,
        poll_s=args.poll_s,
        max_backoff_s=args.max_backoff_s,
        once=args.once,
    )
    signal.signal(signal.SIGTERM, agent.request_stop)
    signal.signal(signal.SIGINT, agent.request_stop)
    try:
        return agent.run()
    except AgentError as exc:
        log(str(exc))
        return 2


def positive_float(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a number of seconds > 0")
    return value


def add_commands(sub: Any) -> None:
    help = "run a beacon agent: pick up this beacon's jobs from /api/jobs and run their tasks"
    beacon = sub.add_parser("beacon", help=help, description=help)
    beacon.add_argument("--name", required=True, help="the beacon's name (jobs' beacon_name)")
    beacon.add_argument("--url", required=True, help="the API, e.g. http://127.0.0.1:8080")
    beacon.add_argument(
        "--userkey", required=True, help="the account's userkey (starting with '-': --userkey=KEY)"
    )
    beacon.add_argument(
        "--poll-s", type=positive_float, default=5.0, help="seconds between polls (default 5)"
    )
    beacon.add_argument(
        "--max-backoff-s",
        type=positive_float,
        default=60.0,
        help="longest wait between retries while the API is unreachable (default 60)",
    )
    beacon.add_argument("--once", action="store_true", help="run what is queued now, then exit")
    beacon.set_defaults(func=cmd_beacon)
