"""What the deploy/ tests read and check: the Dockerfile, compose.yaml and the Kubernetes
manifests as lists of containers and commands, and a checker per program a command runs
(``scheduler``, ``celery``, ``gunicorn``, ``redis-server``, ``redis-cli``, a shell)."""

from __future__ import annotations

import importlib
import json
import re
import shlex
import sys
import warnings
from dataclasses import dataclass, field
from typing import Any

import click
import kubernetes_validate
import yaml
from celery.app.utils import find_app
from celery.beat import Scheduler
from celery.bin.base import CLIContext
from celery.bin.celery import celery as celery_cli
from celery.utils.imports import symbol_by_name
from gunicorn.config import Config as GunicornConfig

from scheduler_cli import main as cli
from shared import metrics
from shared.config import Config
from shared.contract import POOLS
from tests.support import ROOT

# The Kubernetes releases manifests are checked against: the oldest still in wide use, the newest.
KUBERNETES_VERSIONS = ("1.29.0", kubernetes_validate.latest_version())
# Kinds of no Kubernetes schema: kustomize's file, and the CRDs of KEDA and prometheus-operator.
NOT_KUBERNETES_KINDS = {"Kustomization", "ScaledObject", "PodMonitor", "PrometheusRule"}

DEPLOY = ROOT / "deploy"
OUR_IMAGE = "scheduled-jobs"
SAMPLE_HOSTNAME = "worker-pod-1"  # what $HOSTNAME / %h stand for when a command is checked
CELERY_APP = "shared.celery_app"
CELERY_SUBCOMMANDS = {"worker", "beat", "inspect", "flower"}
INSPECT_COMMANDS = {"ping"}


class InvalidCommand(AssertionError):
    pass


# --- reading the files ---------------------------------------------------------------------


def dockerfile() -> dict[str, Any]:
    """The Dockerfile's instructions (continuation lines joined), last one of each kind wins."""
    text = (DEPLOY / "Dockerfile").read_text()
    lines = re.sub(r"\\\n", " ", text).splitlines()
    instructions: dict[str, Any] = {}
    for line in lines:
        if line.strip() and not line.lstrip().startswith("#"):
            keyword, _, rest = line.strip().partition(" ")
            instructions[keyword.upper()] = rest.strip()
    return instructions


def exec_form(instruction: str | None) -> list[str]:
    """An ENTRYPOINT/CMD value, which must be the JSON (exec) form: a shell in between would
    swallow SIGTERM, and workers would never get their warm shutdown."""
    if instruction is None:
        return []
    value = json.loads(instruction)
    assert isinstance(value, list) and all(isinstance(v, str) for v in value), instruction
    return value


def image_env() -> dict[str, str]:
    env = {}
    for pair in shlex.split(dockerfile().get("ENV", "")):
        name, _, value = pair.partition("=")
        env[name] = value
    return env


@dataclass
class Container:
    where: str
    argv: list[str]
    ours: bool  # runs this project's image
    probes: dict[str, dict[str, Any]] = field(default_factory=dict)
    ports: list[int] = field(default_factory=list)
    spec: dict[str, Any] = field(default_factory=dict)  # the compose service or k8s pod spec


def default_argv(entrypoint: list[str] | None, command: list[str] | None) -> list[str]:
    """Docker's rule (compose and Kubernetes alike): overriding the entrypoint drops the image's
    CMD; otherwise the command replaces CMD after the image's ENTRYPOINT."""
    image = dockerfile()
    if entrypoint is not None:
        return entrypoint + (command or [])
    cmd = command if command is not None else exec_form(image.get("CMD"))
    return exec_form(image.get("ENTRYPOINT")) + cmd


def as_argv(value: Any) -> list[str] | None:
    if value is None:
        return None
    return shlex.split(value) if isinstance(value, str) else [str(v) for v in value]


def compose() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def compose_containers() -> list[Container]:
    containers = []
    for name, service in compose()["services"].items():
        ours = "build" in service or service.get("image", "").split(":")[0] == OUR_IMAGE
        entrypoint, command = as_argv(service.get("entrypoint")), as_argv(service.get("command"))
        argv = default_argv(entrypoint, command) if ours else (entrypoint or []) + (command or [])
        probes = {}
        if "healthcheck" in service:
            test = as_argv(service["healthcheck"]["test"]) or []
            assert test[0] in ("CMD", "CMD-SHELL"), test
            probe = test[1:] if test[0] == "CMD" else ["sh", "-c", " ".join(test[1:])]
            probes["healthcheck"] = {"exec": {"command": probe}}
        ports = [int(str(p).rsplit(":", 1)[-1]) for p in service.get("ports", [])]
        containers.append(Container(f"compose:{name}", argv, ours, probes, ports, service))
    return containers


Documents = list[tuple[str, dict[str, Any]]]  # (the file it came from, one YAML document)


def k8s_documents() -> Documents:
    docs = []
    for path in sorted((DEPLOY / "k8s").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                docs.append((path.name, doc))
    return docs


def assert_kubernetes_accepts(documents: Documents) -> None:
    """Each document matches its kind's schema in the Kubernetes API, unknown fields refused.
    Each distinct document is checked once (a check reads the schema's files: ~40 ms)."""
    seen = set()
    for where, doc in documents:
        assert doc.get("apiVersion") and doc.get("kind"), where
        canonical = json.dumps(doc, sort_keys=True)
        if doc["kind"] in NOT_KUBERNETES_KINDS or canonical in seen:
            continue
        seen.add(canonical)
        for version in KUBERNETES_VERSIONS:
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except kubernetes_validate.ValidationError as exc:
                raise AssertionError(
                    f"{where} {doc['kind']} (Kubernetes {version}): {exc}"
                ) from exc


def k8s_workloads(documents: Documents | None = None) -> dict[str, dict[str, Any]]:
    """The Deployments and StatefulSets of ``documents`` (deploy/k8s's by default), by name."""
    return {
        doc["metadata"]["name"]: doc
        for _, doc in (k8s_documents() if documents is None else documents)
        if doc.get("kind") in ("Deployment", "StatefulSet")
    }


def k8s_containers(documents: Documents | None = None) -> list[Container]:
    containers = []
    for name, workload in k8s_workloads(documents).items():
        pod = workload["spec"]["template"]["spec"]
        for c in pod["containers"]:
            ours = c["image"].split(":")[0] == OUR_IMAGE
            command, args = as_argv(c.get("command")), as_argv(c.get("args"))
            argv = default_argv(command, args) if ours else (command or []) + (args or [])
            probes = {
                k: c[k] for k in ("livenessProbe", "readinessProbe", "startupProbe") if k in c
            }
            ports = [p["containerPort"] for p in c.get("ports", [])]
            where = f"k8s:{name}/{c['name']}"
            containers.append(Container(where, argv, ours, probes, ports, pod))
    return containers


def all_containers() -> list[Container]:
    return compose_containers() + k8s_containers()


def all_commands() -> list[tuple[str, list[str]]]:
    """Every command these files would run: each container's, and each exec probe's."""
    commands = [("Dockerfile:CMD", default_argv(None, None))]
    for c in all_containers():
        commands.append((c.where, c.argv))
        for kind, probe in c.probes.items():
            if "exec" in probe:
                commands.append((f"{c.where}:{kind}", as_argv(probe["exec"]["command"]) or []))
    return commands


# --- checking one command ------------------------------------------------------------------


@dataclass
class Checked:
    program: str
    params: dict[str, Any]


def check_command(argv: list[str]) -> Checked:
    """Parse ``argv`` as the program itself would; raise InvalidCommand when it is not valid."""
    if not argv:
        raise InvalidCommand("empty command")
    program, args = argv[0], argv[1:]
    checkers = {
        "sh": check_shell,
        "scheduler": check_scheduler,
        "celery": check_celery,
        "gunicorn": check_gunicorn,
        "redis-server": check_redis_server,
        "redis-cli": check_redis_cli,
    }
    if program not in checkers:
        raise InvalidCommand(f"{program!r} is not a program of this deployment")
    return checkers[program](args)


def check_shell(args: list[str]) -> Checked:
    """``sh -c "exec ..."`` (probes that need $HOSTNAME): the script must be one command."""
    if len(args) != 2 or args[0] != "-c":
        raise InvalidCommand(f"sh must be called as sh -c SCRIPT, not {args}")
    script = args[1].replace("$HOSTNAME", SAMPLE_HOSTNAME).replace("${HOSTNAME}", SAMPLE_HOSTNAME)
    if any(ch in script for ch in ";|&$`<>"):
        raise InvalidCommand(f"the script must be one plain command: {args[1]!r}")
    words = shlex.split(script)
    return check_command(words[1:] if words[:1] == ["exec"] else words)


def check_scheduler(args: list[str]) -> Checked:
    parser = cli.build_parser()
    try:
        namespace = parser.parse_args(args)
    except SystemExit as exc:
        raise InvalidCommand(f"scheduler {shlex.join(args)}: rejected by build_parser()") from exc
    return Checked("scheduler", vars(namespace))


def celery_context(args: list[str]) -> tuple[click.Context, str, click.Context]:
    try:
        ctx = celery_cli.make_context("celery", list(args))
        if ctx.params["app"] != CELERY_APP:
            raise InvalidCommand(f"celery must run -A {CELERY_APP}, not {ctx.params['app']}")
        ctx.obj = CLIContext(app=find_app(CELERY_APP), no_color=True, workdir=None, quiet=True)
        with warnings.catch_warnings():  # click 8.2+ moved the subcommand's name out of .args
            warnings.simplefilter("ignore", DeprecationWarning)
            tokens = [*ctx.protected_args, *ctx.args]
        name, command, rest = celery_cli.resolve_command(ctx, tokens)
        assert name is not None and command is not None
        return ctx, name, command.make_context(name, rest, parent=ctx)
    except click.ClickException as exc:
        raise InvalidCommand(f"celery {shlex.join(args)}: {exc.format_message()}") from exc


def check_celery(args: list[str]) -> Checked:
    ctx, name, sub = celery_context(args)
    if name not in CELERY_SUBCOMMANDS:
        raise InvalidCommand(f"celery {name} is not one we run ({sorted(CELERY_SUBCOMMANDS)})")
    params = dict(sub.params, subcommand=name)
    if name == "worker":
        unknown = set(sub.params["queues"] or []) - set(POOLS)
        if not sub.params["queues"] or unknown:
            raise InvalidCommand(f"worker queues {sub.params['queues']} are not pools {POOLS}")
    if name == "beat":
        scheduler = symbol_by_name(sub.params["scheduler"] or "")
        if not (isinstance(scheduler, type) and issubclass(scheduler, Scheduler)):
            raise InvalidCommand(f"{sub.params['scheduler']} is not a Celery beat scheduler")
    if name == "inspect":
        if sub.params["command"] not in INSPECT_COMMANDS:
            raise InvalidCommand(f"celery inspect {sub.params['command']} is not a probe")
        for node in sub.params["destination"] or []:
            if node.partition("@")[0] not in POOLS:
                raise InvalidCommand(f"{node} is not the node of a pool {POOLS}")
    return Checked("celery", params)


def check_gunicorn(args: list[str]) -> Checked:
    try:
        namespace = GunicornConfig().parser().parse_args(args)
    except SystemExit as exc:
        raise InvalidCommand(f"gunicorn {shlex.join(args)}: rejected by gunicorn") from exc
    if len(namespace.args) != 1:
        raise InvalidCommand(f"gunicorn needs exactly one module:attribute, got {namespace.args}")
    module_name, _, attribute = namespace.args[0].partition(":")
    try:
        sys.modules.pop(module_name, None)  # import it afresh, with this test's environment
        app = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        raise InvalidCommand(f"gunicorn's {namespace.args[0]} does not import: {exc}") from exc
    finally:
        sys.modules.pop(module_name, None)
    if not callable(app):
        raise InvalidCommand(f"{namespace.args[0]} is not a WSGI app")
    return Checked("gunicorn", {**vars(namespace), "app": app})


def check_redis_server(args: list[str]) -> Checked:
    pairs = dict(zip(args[::2], args[1::2], strict=False))
    return Checked("redis-server", pairs)


def check_redis_cli(args: list[str]) -> Checked:
    if args != ["ping"]:
        raise InvalidCommand(f"redis-cli {args}: only ping is a probe")
    return Checked("redis-cli", {})


def bind_port(checked: Checked) -> int:
    (bind,) = checked.params["bind"]
    return int(bind.rsplit(":", 1)[1])


# --- metrics: where a process serves them, and where the files say to scrape ---------------------


def served_metrics_port(checked: Checked, config: Config) -> int:
    """The port a beat or worker started by ``checked`` serves /metrics on, with ``config``
    (0: none); any other command serves none of its own."""
    command = checked.params.get("command") if checked.program == "scheduler" else None
    if command == "beat":
        return config.beat_metrics_port
    if command == "worker":
        return metrics.worker_port(config, [checked.params["pool"]])
    return 0


def declared_port(container: Container, name: str) -> int | None:
    (spec,) = container.spec["containers"]
    ports = {p.get("name"): p["containerPort"] for p in spec.get("ports", [])}
    return ports.get(name)


def scrape_annotation(documents: Documents, workload: str) -> int | None:
    """The port a workload's pods ask to be scraped on (prometheus.io/port), None if not asked."""
    pod = k8s_workloads(documents)[workload]["spec"]["template"]
    annotations = pod["metadata"].get("annotations", {})
    if annotations.get("prometheus.io/scrape") != "true":
        return None
    assert annotations["prometheus.io/path"] == "/metrics", workload
    return int(annotations["prometheus.io/port"])


def workload_of(container: Container) -> str:
    return container.where.split(":", 1)[1].split("/")[0]
