"""``/``: where to go from here. HTML for a browser, JSON for an API client (by ``Accept``).

It links what ``scheduler dev`` prints (``shared.service_urls``): the API docs, the dashboard,
the metrics, Flower, health; and says which version answers. The API's own pages are linked as
the client reached them (a proxy's address too, with ``SCHEDULER_PROXY_COUNT``); Flower and the
metrics ports on the same host name.
"""

from __future__ import annotations

import functools
from importlib import metadata
from urllib.parse import urlsplit

from flask import Blueprint, Response, current_app, jsonify, render_template, request

from scheduler_api import openapi
from shared.config import Config
from shared.service_urls import Link, api_url, browsable_host, service_links

DISTRIBUTION = "scheduled-jobs"  # pyproject.toml's project name
HTML = "text/html"
JSON = "application/json"
LANDING = openapi.Reply(
    "the service's name, version and links (JSON); a page of the same links for text/html",
    {
        "type": "object",
        "required": ["service", "version", "links"],
        "properties": {
            "service": {"type": "string"},
            "version": {"type": "string"},
            "links": {"type": "object", "additionalProperties": {"type": "string"}},
        },
        "additionalProperties": False,
    },
    untyped=(HTML,),
)

blueprint = Blueprint("landing", __name__)


@functools.cache
def version() -> str:
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


@blueprint.get("/")
@openapi.documented(
    summary="Landing page: links to the docs, dashboard, metrics, Flower and health; the version",
    security="",
    responses={200: LANDING, **openapi.RATE_LIMITED},
)
def landing() -> Response:
    links = current_links()
    if request.accept_mimetypes.best_match([JSON, HTML]) == HTML:  # */* (curl) gets JSON
        page = render_template("landing.html", links=links, version=version())
        answer = Response(page, mimetype=HTML)
    else:
        urls = {link.key: link.url for link in links}
        answer = jsonify(service=DISTRIBUTION, version=version(), links=urls)
    answer.vary.add("Accept")
    return answer


def current_links() -> list[Link]:
    """The links as this client reached the API; by the settings when its Host can't be read."""
    config: Config = current_app.extensions["scheduler.config"]
    try:
        hostname = urlsplit(request.host_url).hostname
    except ValueError:  # a hostile Host header, e.g. "[": not a URL's host
        hostname = None
    if not hostname:
        return service_links(config, api_url(config), browsable_host(config))
    host = f"[{hostname}]" if ":" in hostname else hostname
    return service_links(config, request.host_url.rstrip("/"), host)
