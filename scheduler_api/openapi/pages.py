"""``/openapi.json`` and the API reference at ``/docs``: Swagger UI, served from this app.

Swagger UI's files come from the ``flask-swagger-ui`` package (its ``dist`` folder, served
under ``/docs/assets/``), so the page loads nothing from elsewhere: its policy allows scripts,
styles, images and requests from this origin only, plus its one inline script by nonce.
Swagger UI's validator badge, which would send the document to an outside service, is off.
"""

from __future__ import annotations

from importlib.metadata import version
from importlib.resources import files
from pathlib import Path

from flask import Blueprint, Response, current_app, jsonify, render_template

from scheduler_api import page_security
from scheduler_api.openapi.builder import build_spec
from scheduler_api.openapi.marks import Reply, documented, errors

SWAGGER_UI_DIST = Path(str(files("flask_swagger_ui").joinpath("dist")))  # an installed folder
SWAGGER_UI_VERSION = version("flask-swagger-ui")

blueprint = Blueprint(
    "openapi", __name__, static_folder=SWAGGER_UI_DIST, static_url_path="/docs/assets"
)

# Pages without an account count against their client address (scheduler_api.ratelimit).
HTML_PAGE = Reply("an HTML page", untyped=("text/html",))
RATE_LIMITED = {429: "too many requests from this client address (see Retry-After)"}
errors(blueprint, HTML_PAGE, RATE_LIMITED)


@blueprint.get("/openapi.json")
@documented(
    summary="This OpenAPI document",
    security="",
    responses={200: Reply("the OpenAPI 3 document", {"type": "object"})},
)
def openapi_json() -> Response:
    return jsonify(build_spec(current_app))


@blueprint.get("/docs")
@documented(
    summary="The API reference (Swagger UI over /openapi.json)",
    security="",
    responses={200: HTML_PAGE},
)
def docs_page() -> str:
    # Swagger UI's scripts and styles are files of this origin; it fetches the document and
    # sends "Try it out" requests here, and draws its icons as data: images.
    page_security.allow(
        script_src="'self'", style_src="'self'", connect_src="'self'", img_src="'self' data:"
    )
    return render_template("docs.html", swagger_ui_version=SWAGGER_UI_VERSION)
