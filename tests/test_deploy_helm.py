"""deploy/helm/scheduled-jobs: rendered by Helm's own engine (helm-python-sdk binds Helm's Go SDK:
the same rendering as ``helm template``, and ``helm lint``), then checked as deploy/k8s is: every
command through this project's parsers, each pool's Deployment probed on its own node and scraped
on the port its worker really serves, and each pool autoscaled on its own queue (a KEDA
ScaledObject on the Redis list, or an HPA on the API's ``scheduler_queue_depth``)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import helm_python
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from shared import metrics
from shared.config import Config
from shared.contract import POOLS
from shared.store import Store
from shared.store.keys import Keys
from tests.deploy_support import (
    Container,
    Documents,
    assert_kubernetes_accepts,
    check_command,
    declared_port,
    k8s_containers,
    k8s_workloads,
    scrape_annotation,
    served_metrics_port,
    workload_of,
)
from tests.test_deploy import assert_safe_redis, env, worker_node_name  # noqa: F401 (a fixture)

CHART = Path(__file__).resolve().parent.parent / "deploy" / "helm" / "scheduled-jobs"
MONITORING = CHART.parent.parent / "monitoring"
RELEASE = "jobs"
SECRET = {"secret": {"secretKey": "k" * 40}}


@pytest.fixture(scope="module", autouse=True)
def quiet_helm() -> Iterator[None]:
    helm_python.disable_logging()  # it logs each file it follows through files/'s symlinks
    yield


def render(chart: Path | str = CHART, **values: Any) -> Documents:
    """``helm template jobs CHART`` with ``values``, as (file, document)."""
    rendered = rendered_files(chart, **values)
    return [
        (path.rsplit("/", 1)[-1], doc)
        for path, text in sorted(rendered.items())
        if path.endswith(".yaml")  # not NOTES.txt, which helm prints after an install
        for doc in yaml.safe_load_all(text)
        if doc
    ]


def rendered_files(chart: Path | str = CHART, **values: Any) -> dict[str, str]:
    loaded = helm_python.Chart.load(chart)
    return loaded.render(values=values, name=RELEASE, namespace="default")


def of_kind(documents: Documents, kind: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for _, doc in documents if doc["kind"] == kind}


def rendered_config(documents: Documents) -> Config:
    """The settings every process of the release reads (its ConfigMap)."""
    (config_map,) = of_kind(documents, "ConfigMap").values()
    return Config.from_env(config_map["data"])


def workers_by_pool(containers: list[Container]) -> dict[str, Container]:
    workers = {}
    for c in containers:
        checked = check_command(c.argv)
        if checked.program == "scheduler" and checked.params["command"] == "worker":
            workers[checked.params["pool"]] = c
    return workers


def pod_container(container: Container) -> dict[str, Any]:
    (spec,) = container.spec["containers"]
    return dict(spec)


# --- the chart as installed by default -----------------------------------------------------------


def test_helm_lints_the_chart_without_warnings() -> None:
    report = helm_python.lint(CHART, SECRET, strict=True)
    assert report["errors"] == []
    assert [m for m in report["messages"] if m["severity"] >= 2] == []


# The configurations whose rendering the Kubernetes schemas check.
CONFIGURATIONS: list[dict[str, Any]] = [
    {},
    {"autoscaling": {"enabled": True}},
    {"autoscaling": {"enabled": True, "kind": "hpa"}},
    {"redis": {"enabled": False}, "externalRedis": {"url": "redis://r:6379/0"}},
    {"metrics": {"enabled": False}, "flower": {"enabled": False}},
    {"ingress": {"enabled": True, "tls": [{"secretName": "tls", "hosts": ["s.example.com"]}]}},
    {
        "metrics": {
            "prometheusRule": {"enabled": True},
            "grafanaDashboard": {"enabled": True},
            "podMonitor": {"enabled": True},
        }
    },
]


def test_the_kubernetes_api_accepts_what_the_chart_renders() -> None:
    """Default, KEDA, HPA, a managed Redis, metrics and Flower off, an Ingress, monitoring."""
    assert_kubernetes_accepts(
        [doc for values in CONFIGURATIONS for doc in render(**SECRET, **values)]
    )


def test_every_command_and_probe_the_chart_runs_is_valid(env: None) -> None:  # noqa: F811
    containers = k8s_containers(render(**SECRET))
    assert {c.where.split(":")[1].split("/")[0] for c in containers} == {
        f"{RELEASE}-{name}"
        for name in ("api", "beat", "flower", "redis", *(f"worker-{p}" for p in POOLS))
    }
    for c in containers:
        check_command(c.argv)
        for probe in c.probes.values():
            if "exec" in probe:
                check_command(probe["exec"]["command"])
    (redis,) = [c for c in containers if not c.ours]
    assert_safe_redis(redis.argv)


def test_each_pool_is_probed_on_its_node_and_scraped_where_its_worker_serves(
    env: None,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    documents = render(**SECRET)
    config = rendered_config(documents)
    assert config.redis_url == f"redis://{RELEASE}-redis:6379/0"
    workers = workers_by_pool(k8s_containers(documents))
    assert sorted(workers) == sorted(POOLS)
    for pool, c in workers.items():
        probe = check_command(c.probes["livenessProbe"]["exec"]["command"])
        node = worker_node_name(check_command(c.argv), monkeypatch)
        assert probe.params["destination"] == [node], c.where
        port = served_metrics_port(check_command(c.argv), config)
        assert port == metrics.worker_port(config, [pool]) > 0
        assert declared_port(c, "metrics") == port, c.where
        assert scrape_annotation(documents, f"{RELEASE}-worker-{pool}") == port
        assert c.spec["terminationGracePeriodSeconds"] >= 60
    (beat,) = [c for c in k8s_containers(documents) if c.argv[:2] == ["scheduler", "beat"]]
    assert declared_port(beat, "metrics") == config.beat_metrics_port > 0
    assert scrape_annotation(documents, f"{RELEASE}-beat") == config.beat_metrics_port
    assert of_kind(documents, "Deployment")[f"{RELEASE}-beat"]["spec"]["replicas"] == 2


def test_the_api_service_reaches_gunicorns_port_and_the_secret_is_the_given_key(
    env: None,  # noqa: F811
) -> None:
    documents = render(**SECRET)
    (api,) = [c for c in k8s_containers(documents) if c.argv[0] == "gunicorn"]
    (bind,) = check_command(api.argv).params["bind"]
    assert api.ports == [int(bind.rsplit(":", 1)[1])]
    assert api.probes["readinessProbe"]["httpGet"]["path"] == "/readyz"
    service = of_kind(documents, "Service")[f"{RELEASE}-api"]
    named = {p["name"]: p["containerPort"] for p in pod_container(api)["ports"]}
    assert named[service["spec"]["ports"][0]["targetPort"]] == api.ports[0]
    (secret,) = of_kind(documents, "Secret").values()
    assert secret["stringData"] == {"SCHEDULER_SECRET_KEY": "k" * 40}


# --- autoscaling on each pool's queue ------------------------------------------------------------


def test_keda_scales_each_pool_on_the_length_of_its_own_redis_list() -> None:
    documents = render(
        **SECRET,
        autoscaling={"enabled": True},
        workers={"pools": {"webhooks": {"autoscaling": {"maxReplicas": 20}}}},
    )
    deployments = of_kind(documents, "Deployment")
    scaled = of_kind(documents, "ScaledObject")
    redis_service = of_kind(documents, "Service")[f"{RELEASE}-redis"]
    redis_port = redis_service["spec"]["ports"][0]["port"]
    assert len(scaled) == len(POOLS)
    for pool in POOLS:
        target = f"{RELEASE}-worker-{pool}"
        spec = scaled[target]["spec"]
        assert spec["scaleTargetRef"] == {"name": target}
        assert "replicas" not in deployments[target]["spec"]  # the autoscaler owns it
        (trigger,) = spec["triggers"]
        assert trigger["type"] == "redis"
        # the list the queue's messages wait in, on the Redis the processes use
        assert trigger["metadata"]["listName"] == Keys.queue(pool)
        assert trigger["metadata"]["address"] == f"{RELEASE}-redis:{redis_port}"
        assert trigger["metadata"]["databaseIndex"] == "0"
        assert trigger["metadata"]["listLength"] == "100"
        assert spec["maxReplicaCount"] == (20 if pool == "webhooks" else 10)
    assert "replicas" in deployments[f"{RELEASE}-api"]["spec"]


def test_an_hpa_per_pool_on_the_queue_depth_the_api_exports(store: Store) -> None:
    documents = render(**SECRET, autoscaling={"enabled": True, "kind": "hpa"})
    hpas = of_kind(documents, "HorizontalPodAutoscaler")
    exported = exported_series(store)
    for pool in POOLS:
        target = f"{RELEASE}-worker-{pool}"
        spec = hpas[target]["spec"]
        assert spec["scaleTargetRef"]["name"] == target
        (metric,) = spec["metrics"]
        wanted = metric["external"]["metric"]
        series = (wanted["name"], tuple(sorted(wanted["selector"]["matchLabels"].items())))
        assert series in exported, f"the API exports no {series}"


def exported_series(store: Store) -> set[tuple[str, tuple[tuple[str, str], ...]]]:
    """Every series the API's /metrics serves, read from a real Redis."""
    body, _ = metrics.exposition(metrics.api_registry(store))
    return {
        (s.name, tuple(sorted(s.labels.items())))
        for family in text_string_to_metric_families(body.decode())
        for s in family.samples
    }


def test_autoscaling_with_a_managed_redis_reads_the_address_given() -> None:
    url = "redis://:pw@redis.example.internal:6380/2"
    documents = render(
        **SECRET,
        redis={"enabled": False},
        externalRedis={"url": url, "address": "redis.example.internal:6380", "database": 2},
        autoscaling={"enabled": True},
    )
    assert rendered_config(documents).redis_url == url
    assert "StatefulSet" not in {doc["kind"] for _, doc in documents}
    for scaled in of_kind(documents, "ScaledObject").values():
        trigger = scaled["spec"]["triggers"][0]["metadata"]
        assert (trigger["address"], trigger["databaseIndex"]) == (
            "redis.example.internal:6380",
            "2",
        )


# --- monitoring objects --------------------------------------------------------------------------


def test_the_chart_ships_deploy_monitorings_alerts_and_dashboard() -> None:
    documents = render(
        **SECRET,
        metrics={
            "prometheusRule": {"enabled": True},
            "grafanaDashboard": {"enabled": True},
            "podMonitor": {"enabled": True},
        },
    )
    (rule,) = of_kind(documents, "PrometheusRule").values()
    assert rule["spec"] == yaml.safe_load((MONITORING / "alerts.yaml").read_text())
    board = of_kind(documents, "ConfigMap")[f"{RELEASE}-dashboard"]
    assert board["metadata"]["labels"]["grafana_dashboard"] == "1"
    (text,) = board["data"].values()
    assert json.loads(text) == json.loads((MONITORING / "grafana-dashboard.json").read_text())
    (monitor,) = of_kind(documents, "PodMonitor").values()
    scraped_ports = {e["port"] for e in monitor["spec"]["podMetricsEndpoints"]}
    workloads = k8s_workloads(documents)
    selected = [
        c
        for c in k8s_containers(documents)
        if selects(monitor["spec"]["selector"], workloads[workload_of(c)])
    ]
    assert sorted(workload_of(c) for c in selected) == sorted(
        f"{RELEASE}-{name}" for name in ("api", "beat", *(f"worker-{p}" for p in POOLS))
    )
    for c in selected:  # each serves /metrics on exactly one of the ports scraped
        named = {port["name"] for port in pod_container(c).get("ports", [])}
        assert len(named & scraped_ports) == 1, c.where


def selects(selector: dict[str, Any], workload: dict[str, Any]) -> bool:
    """Whether a label selector (matchLabels, matchExpressions with In) picks the workload's
    pods."""
    labels = workload["spec"]["template"]["metadata"]["labels"]
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expression in selector.get("matchExpressions", []):
        assert expression["operator"] == "In", expression
        if labels.get(expression["key"]) not in expression["values"]:
            return False
    return True


# --- what the chart refuses ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "values,message",
    [
        ({}, "secret.secretKey"),
        ({"secret": {"secretKey": "short"}}, "at least 32 characters"),
        ({**SECRET, "workers": {"pools": {"hooks": {"replicas": 1}}}}, "propertyName 'hooks'"),
        ({**SECRET, "api": {"replica": 3}}, "'replica' not allowed"),  # values.schema.json
        ({**SECRET, "workers": {"pools": {"jobs": {"replicas": "2"}}}}, "got string"),
        ({**SECRET, "redis": {"enabled": False}}, "externalRedis.url"),
        (
            {
                **SECRET,
                "redis": {"enabled": False},
                "externalRedis": {"url": "redis://r:6379/0"},
                "autoscaling": {"enabled": True},
            },
            "externalRedis.address",
        ),
        ({**SECRET, "autoscaling": {"enabled": True, "kind": "vpa"}}, "one of 'keda', 'hpa'"),
    ],
)
def test_the_chart_refuses_values_that_would_not_run(values: dict[str, Any], message: str) -> None:
    with pytest.raises(helm_python.HelmError, match=message):
        render(**values)


def test_an_existing_secret_is_used_and_none_is_made() -> None:
    documents = render(secret={"existingSecret": "my-secret"})
    assert "Secret" not in {doc["kind"] for _, doc in documents}
    for c in k8s_containers(documents):
        if c.ours:
            refs = [e["secretRef"]["name"] for e in pod_container(c)["envFrom"] if "secretRef" in e]
            assert refs == ["my-secret"], c.where


def test_an_ingress_routes_to_the_api_and_the_api_then_believes_one_proxy() -> None:
    documents = render(**SECRET, ingress={"enabled": True, "host": "jobs.example.com"})
    (ingress,) = of_kind(documents, "Ingress").values()
    (rule,) = ingress["spec"]["rules"]
    assert rule["host"] == "jobs.example.com"
    backend = rule["http"]["paths"][0]["backend"]["service"]
    service = of_kind(documents, "Service")[backend["name"]]
    assert backend["port"]["name"] in {p["name"] for p in service["spec"]["ports"]}
    assert rendered_config(documents).proxy_count == 1
    assert rendered_config(render(**SECRET)).proxy_count == 0  # no proxy: headers not believed
    chosen = render(**SECRET, ingress={"enabled": True}, config={"SCHEDULER_PROXY_COUNT": 2})
    assert rendered_config(chosen).proxy_count == 2


def test_the_packaged_chart_carries_the_monitoring_files_not_links(tmp_path: Path) -> None:
    """`helm package` follows files/'s links to deploy/monitoring: the archive stands alone."""
    archive = helm_python.package(CHART, destination=tmp_path)
    extracted = tmp_path / "extracted"
    helm_python.expand(extracted, archive)
    files = extracted / "scheduled-jobs" / "files"
    assert not (files / "alerts.yaml").is_symlink()
    assert (files / "alerts.yaml").read_text() == (MONITORING / "alerts.yaml").read_text()
    notes = rendered_files(extracted / "scheduled-jobs", **SECRET)[
        "scheduled-jobs/templates/NOTES.txt"
    ]
    assert f"service/{RELEASE}-api" in notes and "Keep secret.secretKey" in notes
