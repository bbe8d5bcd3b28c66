"""deploy/ can't rot: every command in the Dockerfile, compose.yaml and the Kubernetes manifests
is a valid invocation of this project, checked by the project's own parsers.

``scheduler ...`` goes through ``scheduler_cli.main.build_parser()``; ``celery -A
shared.celery_app ...`` through Celery's own click commands (queues must be pools); ``gunicorn``
through gunicorn's parser, and its ``module:attribute`` is imported and served a request. Probes are
checked the same way, and against what the process really listens on or is named. Renaming a
pool, a subcommand or the WSGI module makes these tests fail. No image is built here.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from gunicorn import glogging
from gunicorn.config import Config as GunicornConfig
from werkzeug.test import Client

from scheduler_cli import main as cli
from shared.config import Config
from shared.contract import POOLS
from tests.deploy_support import (
    CELERY_APP,
    SAMPLE_HOSTNAME,
    Checked,
    InvalidCommand,
    all_commands,
    as_argv,
    assert_kubernetes_accepts,
    bind_port,
    check_command,
    compose,
    compose_containers,
    declared_port,
    dockerfile,
    exec_form,
    image_env,
    k8s_containers,
    k8s_documents,
    k8s_workloads,
    scrape_annotation,
    served_metrics_port,
    workload_of,
)


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, clean_redis: str, tmp_path: Path) -> None:
    """The environment a container would have: a Redis, a secret key, a data dir."""
    monkeypatch.setenv("REDIS_URL", clean_redis)
    monkeypatch.setenv("SCHEDULER_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SCHEDULER_SECRET_KEY", "k" * 40)


# --- the tests -----------------------------------------------------------------------------


@pytest.mark.parametrize("where,argv", all_commands(), ids=[w for w, _ in all_commands()])
def test_every_command_is_a_valid_invocation(env: None, where: str, argv: list[str]) -> None:
    check_command(argv)


@pytest.mark.parametrize(
    "argv",
    [
        ["scheduler", "worker", "--pool", "webhook"],  # a renamed pool
        ["scheduler", "wrker", "--pool", "push"],  # a renamed subcommand
        ["scheduler", "flower", "--port", "5555"],  # an option the command lacks
        ["celery", "-A", CELERY_APP, "worker", "-Q", "hooks"],
        ["celery", "-A", CELERY_APP, "wrker"],
        ["celery", "-A", "other.app", "worker", "-Q", "push"],
        ["celery", "-A", CELERY_APP, "inspect", "ping", "-d", "hooks@host"],
        ["celery", "-A", CELERY_APP, "beat", "-S", "celery.app.base:Celery"],
        ["gunicorn", "--bind", "0.0.0.0:8080", "scheduler_api.wsgi:application"],
        ["gunicorn", "--bind", "0.0.0.0:8080", "scheduler_api.no_such_module:app"],
        ["sh", "-c", "celery -A shared.celery_app inspect ping; rm -rf /"],
        ["python", "-m", "scheduler_cli.main", "api"],
    ],
)
def test_the_checker_rejects_what_would_not_run(env: None, argv: list[str]) -> None:
    with pytest.raises(InvalidCommand):
        check_command(argv)


def test_dockerfile_runs_its_commands_without_a_shell() -> None:
    image = dockerfile()
    assert exec_form(image.get("CMD")), "the Dockerfile needs an exec-form CMD"
    exec_form(image.get("ENTRYPOINT"))  # absent, or exec form
    assert image.get("STOPSIGNAL", "SIGTERM") == "SIGTERM"
    assert image_env().get("SCHEDULER_API_HOST") == "0.0.0.0"  # else unreachable from outside


def test_each_pool_is_its_own_scalable_compose_service(env: None) -> None:
    services = compose()["services"]
    by_pool = {}
    for c in compose_containers():
        checked = check_command(c.argv)
        if checked.program == "scheduler" and checked.params["command"] == "worker":
            by_pool.setdefault(checked.params["pool"], []).append(c.where.split(":", 1)[1])
    assert sorted(by_pool) == sorted(POOLS)
    for pool, names in by_pool.items():
        assert len(names) == 1, f"pool {pool} has services {names}"
        service = services[names[0]]
        # `--scale` starts copies: a fixed name or host port would collide.
        assert "container_name" not in service and "ports" not in service, names[0]
        assert grace_s(service["stop_grace_period"]) >= delivery_bound_s(), names[0]


def test_compose_runs_two_beats_gunicorn_flower_and_a_safe_redis() -> None:
    containers = {c.where: c for c in compose_containers()}
    beats = [c for c in containers.values() if c.argv[:2] == ["scheduler", "beat"]]
    assert [c.spec.get("deploy", {}).get("replicas", 1) for c in beats] == [2]
    api = [c for c in containers.values() if c.argv[0] == "gunicorn"]
    assert len(api) == 1 and api[0].ports == [8080]
    flower = [c for c in containers.values() if c.argv[:2] == ["scheduler", "flower"]]
    assert len(flower) == 1 and flower[0].ports == [Config().flower_port]
    assert_safe_redis(containers["compose:redis"].argv)
    for c in containers.values():
        if c.ours:
            assert "SCHEDULER_SECRET_KEY" in c.spec["environment"], c.where


def test_kubernetes_has_a_deployment_per_pool_with_a_probe_on_its_own_node(
    env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    workers = {}
    for c in k8s_containers():
        checked = check_command(c.argv)
        if checked.program == "scheduler" and checked.params["command"] == "worker":
            workers[checked.params["pool"]] = (c, checked)
    assert sorted(workers) == sorted(POOLS)
    for c, checked in workers.values():
        assert c.spec["terminationGracePeriodSeconds"] >= delivery_bound_s(), c.where
        probe = check_command(as_argv(c.probes["livenessProbe"]["exec"]["command"]) or [])
        assert probe.params["subcommand"] == "inspect" and probe.params["command"] == "ping"
        # The probe pings the node name `scheduler worker` really gives this pod's worker.
        node = worker_node_name(checked, monkeypatch)
        assert probe.params["destination"] == [node], c.where


def test_the_kubernetes_api_accepts_every_manifest() -> None:
    assert_kubernetes_accepts(k8s_documents())


def test_kubernetes_api_flower_beat_redis_and_secret(env: None) -> None:
    workloads = k8s_workloads()
    containers = {c.where.split(":", 1)[1].split("/")[0]: c for c in k8s_containers()}
    assert workloads["beat"]["spec"]["replicas"] == 2
    assert containers["beat"].argv[:2] == ["scheduler", "beat"]

    api = containers["api"]
    checked = check_command(api.argv)
    assert checked.program == "gunicorn" and api.ports == [bind_port(checked)]
    client = Client(checked.params["app"])
    for kind, path, ok in (
        ("livenessProbe", "/healthz", {200}),
        ("readinessProbe", "/readyz", {200, 503}),
    ):
        http = api.probes[kind]["httpGet"]
        assert (http["path"], http["port"]) == (path, bind_port(checked))
        assert client.get(path).status_code in ok, path  # 503: no beat ran in this test
    assert api.spec["terminationGracePeriodSeconds"] > checked.params["graceful_timeout"]

    flower = containers["flower"]
    assert flower.argv == ["scheduler", "flower"] and flower.ports == [Config().flower_port]
    assert flower.probes["livenessProbe"]["httpGet"]["port"] == Config().flower_port

    assert_safe_redis(containers["redis"].argv)
    secrets = [d for _, d in k8s_documents() if d.get("kind") == "Secret"]
    assert [list(s["stringData"]) for s in secrets] == [["SCHEDULER_SECRET_KEY"]]
    secret_name = secrets[0]["metadata"]["name"]
    for c in containers.values():
        if c.ours:
            refs = [
                e["secretRef"]["name"]
                for e in c.spec["containers"][0]["envFrom"]
                if "secretRef" in e
            ]
            assert refs == [secret_name], c.where


def test_beats_workers_and_the_api_are_scraped_where_they_serve_metrics(env: None) -> None:
    """Each pod's prometheus.io/port and its port named metrics are the port its process
    really serves /metrics on with the ConfigMap's settings; compose turns the same ports on."""
    documents = k8s_documents()
    (config_map,) = [d for _, d in documents if d["kind"] == "ConfigMap"]
    config = Config.from_env(config_map["data"])
    for c in k8s_containers():
        checked = check_command(c.argv)
        if checked.program == "gunicorn":
            assert scrape_annotation(documents, workload_of(c)) == bind_port(checked)
        elif checked.program == "scheduler" and checked.params["command"] in ("beat", "worker"):
            port = served_metrics_port(checked, config)
            assert port > 0, f"{c.where} serves no metrics"
            assert declared_port(c, "metrics") == port, c.where
            assert scrape_annotation(documents, workload_of(c)) == port, c.where
    for c in compose_containers():
        if c.ours:
            settings = Config.from_env(c.spec["environment"])
            assert (settings.beat_metrics_port, settings.worker_metrics_port) == (
                config.beat_metrics_port,
                config.worker_metrics_port,
            ), c.where


def test_flower_listens_where_the_files_publish_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """`scheduler flower` in the image: every interface, the port compose and k8s expose."""
    seen: list[list[str]] = []
    monkeypatch.setattr(cli, "run_celery", lambda argv: seen.append(argv))
    config = Config.from_env(image_env())
    cli.cmd_flower(cli.build_parser().parse_args(["flower"]), config)
    assert seen == [["flower", "--address=0.0.0.0", f"--port={Config().flower_port}"]]


# --- helpers -------------------------------------------------------------------------------


def worker_node_name(checked: Checked, monkeypatch: pytest.MonkeyPatch) -> str:
    """The -n that ``scheduler worker`` passes to Celery, with %h as the pod's hostname."""
    args = cli.build_parser().parse_args(["worker", "--pool", checked.params["pool"]])
    argv = cli.worker_argv(args, Config.from_env())
    return argv[argv.index("-n") + 1].replace("%h", SAMPLE_HOSTNAME)


def assert_safe_redis(argv: list[str]) -> None:
    checked = check_command(argv)
    assert checked.program == "redis-server"
    assert checked.params.get("--appendonly") == "yes"
    assert checked.params.get("--maxmemory-policy") == "noeviction"


def grace_s(value: str) -> float:
    match = re.fullmatch(r"(\d+)(s|m)", value)
    assert match, value
    return int(match[1]) * (60 if match[2] == "m" else 1)


def delivery_bound_s() -> float:
    """The longest an HTTP delivery takes by default: a worker's grace period must cover it."""
    config = Config()
    return config.http_connect_timeout_s + config.http_read_timeout_s


class _Answer:
    status = "200 OK"
    status_code = 200
    headers: list[tuple[str, str]] = []
    sent = 2
    response_length = 2


class _Request:
    headers = [("AUTHORIZATION", "Basic c2VjcmV0OnNlY3JldA=="), ("USER-AGENT", "curl")]


def test_the_api_access_log_has_no_query_string_or_credentials(env: None) -> None:
    """deploy/ runs gunicorn's own access logger (not `scheduler api`'s redacting one): its format
    must leave out what a credential rides in (a query such as ?userkey=..., Basic auth)."""
    environ = {
        "REMOTE_ADDR": "203.0.113.9",
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/api/jobs",
        "QUERY_STRING": "userkey=SECRET-KEY",
        "RAW_URI": "/api/jobs?userkey=SECRET-KEY",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_AUTHORIZATION": "Basic c2VjcmV0OnNlY3JldA==",
        "REMOTE_USER": "SECRET-USER",
    }
    commands = [argv for _, argv in all_commands() if argv and argv[0] == "gunicorn"]
    assert len(commands) >= 3  # the Dockerfile's, compose's, the k8s manifest's
    for argv in commands:
        checked = check_command(argv)
        assert checked.params["accesslog"] == "-"
        logger = glogging.Logger(GunicornConfig())
        atoms = logger.atoms(_Answer(), _Request(), environ, timedelta(milliseconds=3))
        line = checked.params["access_log_format"] % atoms
        assert "GET /api/jobs HTTP/1.1 200" in line, line
        assert "SECRET" not in line and "c2VjcmV0" not in line, line
