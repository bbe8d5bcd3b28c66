"""A dialect adds its own part to /openapi.json from its own package (``openapi.part``), as the
native API does: the builder names no dialect."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask

from scheduler_api.app import create_app
from scheduler_api.openapi import Reply, about, documented, errors, part
from shared.config import Config


def add_bearer(app: Flask, document: dict[str, Any]) -> None:
    schemes = document["components"]["securitySchemes"]
    schemes["bearer"] = {"type": "http", "scheme": "bearer"}
    document["paths"]["/extra/things"]["get"]["parameters"] = [
        {"in": "header", "name": "Idempotency-Key", "schema": {"type": "string"}}
    ]


def test_a_blueprint_documents_itself_and_adds_its_part(config: Config) -> None:
    extra = Blueprint("extra", __name__, url_prefix="/extra")

    @extra.get("/things")
    @documented(
        summary="Things",
        security=("basic", "bearer"),
        responses={200: Reply("the things", {"type": "array"}, examples={"none": []})},
    )
    def things() -> list[str]:
        return []

    about(extra, "things, for a test")
    errors(extra, Reply("", {"type": "object"}), {404: "no such thing"}, {404: {"error": "no"}})
    part(extra, add_bearer)
    app = create_app(config)
    app.register_blueprint(extra)
    spec = app.test_client().get("/openapi.json").get_json()
    operation = spec["paths"]["/extra/things"]["get"]
    assert operation["security"] == [{"basic": []}, {"bearer": []}]  # either one
    assert spec["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    assert operation["parameters"][0]["name"] == "Idempotency-Key"
    assert operation["responses"]["404"]["content"]["application/json"]["examples"] == {
        "example": {"value": {"error": "no"}}
    }
    assert {"name": "extra", "description": "things, for a test"} in spec["tags"]
