"""``/``: the landing page, HTML for a browser and JSON for an API client, linking every part of
the service by the settings (the links answering is checked against a running service in
tests/test_dev_e2e.py)."""

from __future__ import annotations

import dataclasses
import html.parser

from scheduler_api.app import create_app
from scheduler_api.landing import version
from shared.config import Config

BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


class Anchors(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.hrefs += [value for name, value in attrs if tag == "a" and name == "href" and value]


def metrics_config(config: Config) -> Config:
    return dataclasses.replace(config, beat_metrics_port=9101, worker_metrics_port=9102)


def test_an_api_client_gets_json_with_the_version_and_every_link(config: Config) -> None:
    client = create_app(metrics_config(config)).test_client()
    for accept in (None, "*/*", "application/json"):
        answer = client.get("/", headers={"Accept": accept} if accept else {})
        assert answer.status_code == 200 and answer.mimetype == "application/json"
        assert "Accept" in answer.headers["Vary"]
        body = answer.get_json()
        assert body["version"] == version() != "unknown"
        assert body["links"] == {
            "home": "http://localhost/",
            "docs": "http://localhost/docs",
            "dashboard": "http://localhost/dashboard/",
            "metrics": "http://localhost/metrics",
            "beat_metrics": "http://localhost:9101/metrics",
            "worker_metrics_push": "http://localhost:9102/metrics",
            "worker_metrics_webhooks": "http://localhost:9103/metrics",
            "worker_metrics_tasks": "http://localhost:9104/metrics",
            "worker_metrics_jobs": "http://localhost:9105/metrics",
            "flower": "http://localhost:5555/",
            "health": "http://localhost/healthz",
        }


def test_a_browser_gets_a_page_linking_the_same_places(config: Config) -> None:
    client = create_app(metrics_config(config)).test_client()
    links = client.get("/", headers={"Accept": "application/json"}).get_json()["links"]
    answer = client.get("/", headers={"Accept": BROWSER_ACCEPT})
    assert answer.status_code == 200 and answer.mimetype == "text/html"
    assert "default-src 'none'" in answer.headers["Content-Security-Policy"]
    page = answer.get_data(as_text=True)
    assert f"version {version()}" in page
    anchors = Anchors()
    anchors.feed(page)
    assert sorted(anchors.hrefs) == sorted(url for key, url in links.items() if key != "home")


def test_flower_and_metrics_ports_follow_the_host_the_client_used(config: Config) -> None:
    client = create_app(dataclasses.replace(config, flower_port=5600)).test_client()
    links = client.get("/", headers={"Host": "[::1]:8080"}).get_json()["links"]
    assert links["docs"] == "http://[::1]:8080/docs"
    assert links["flower"] == "http://[::1]:5600/"
    assert "beat_metrics" not in links  # metrics ports off (0): nothing to link


def test_a_hostile_host_header_falls_back_to_the_settings(config: Config) -> None:
    client = create_app(config).test_client()
    answer = client.get("/", headers={"Host": "["})
    assert answer.status_code == 200
    assert answer.get_json()["links"]["flower"] == "http://127.0.0.1:5555/"
