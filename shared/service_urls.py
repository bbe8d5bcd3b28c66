"""Where each part of the service answers: what ``scheduler dev`` prints and what ``/`` links.

One list, built from ``Config``, so the terminal and the landing page never disagree. The API's
own pages hang off the URL the API is reached at; Flower and the beat's and workers' metrics
listen on their own ports of the same host (``SCHEDULER_FLOWER_PORT``, ``*_METRICS_PORT``).
"""

from __future__ import annotations

from dataclasses import dataclass

from shared import metrics
from shared.config import Config
from shared.contract import POOLS

WILDCARD_HOSTS = ("0.0.0.0", "::", "")  # listen everywhere: not an address to browse to


@dataclass(frozen=True)
class Link:
    key: str  # the name in the landing page's JSON
    label: str  # the name a person reads
    url: str
    about: str


def browsable_host(config: Config) -> str:
    """The API host as a URL's host: loopback when it listens everywhere, IPv6 bracketed."""
    host = "127.0.0.1" if config.api_host in WILDCARD_HOSTS else config.api_host
    return f"[{host}]" if ":" in host else host


def api_url(config: Config) -> str:
    return f"http://{browsable_host(config)}:{config.api_port}"


def service_links(config: Config, api: str, host: str) -> list[Link]:
    """Every page of the service: ``api`` is the API's URL (no trailing slash), ``host`` the host
    (bracketed if IPv6) on which Flower and the metrics ports are reached."""
    links = [
        Link("home", "API", f"{api}/", "this page: the links below, as HTML or JSON"),
        Link("docs", "API docs", f"{api}/docs", "API reference (OpenAPI: /openapi.json)"),
        Link("dashboard", "Dashboard", f"{api}/dashboard/", "an account's schedules and runs"),
        Link("flower", "Flower", f"http://{host}:{config.flower_port}/", "Celery workers, tasks"),
        Link("metrics", "Metrics", f"{api}/metrics", "Prometheus: store sizes, queue depths"),
    ]
    if config.beat_metrics_port:
        url = f"http://{host}:{config.beat_metrics_port}/metrics"
        links.append(Link("beat_metrics", "Beat metrics", url, "Prometheus: fires, lag"))
    for pool in POOLS if config.worker_metrics_port else ():
        url = f"http://{host}:{metrics.worker_port(config, [pool])}/metrics"
        about = f"Prometheus: attempts of the {pool} pool"
        links.append(Link(f"worker_metrics_{pool}", f"{pool.capitalize()} metrics", url, about))
    links.append(Link("health", "Health", f"{api}/healthz", "liveness (readiness: /readyz)"))
    return links
