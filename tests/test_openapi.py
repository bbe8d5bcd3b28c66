"""/openapi.json is a valid OpenAPI 3 document that covers every route the app serves."""

from __future__ import annotations

from flask import Flask
from openapi_spec_validator import validate

from scheduler_api.app import create_app
from scheduler_api.openapi import PATH_PARAM, SKIPPED_METHODS, is_static
from shared.config import Config


def served_operations(app: Flask) -> set[tuple[str, str]]:
    return {
        (PATH_PARAM.sub(r"{\1}", rule.rule), method.lower())
        for rule in app.url_map.iter_rules()
        if not is_static(rule.endpoint)
        for method in (rule.methods or set()) - SKIPPED_METHODS
    }


def test_the_document_is_valid_and_lists_every_served_route(config: Config) -> None:
    app = create_app(config)
    spec = app.test_client().get("/openapi.json").get_json()
    validate(spec)
    documented = {(path, method) for path, ops in spec["paths"].items() for method in ops}
    assert served_operations(app) == documented
    # every dialect is there
    for prefix in ("/1/jobs", "/v4/schedules", "/api/v1/api.php", "/api/jobs"):
        assert any(path.startswith(prefix) for path in spec["paths"]), prefix


def test_every_operation_says_what_it_does(config: Config) -> None:
    spec = create_app(config).test_client().get("/openapi.json").get_json()
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            endpoint = op["operationId"].split("_", 1)[1]
            assert op["summary"] and op["summary"] != endpoint.replace("_", "."), (method, path)


def test_request_bodies_come_from_the_marshmallow_schemas(config: Config) -> None:
    spec = create_app(config).test_client().get("/openapi.json").get_json()
    create = spec["paths"]["/1/jobs"]["post"]["requestBody"]["content"]
    assert set(create) == {"application/json", "text/xml", "application/xml"}
    fields = spec["components"]["schemas"]["JobDocument"]["properties"]
    assert {"url", "cron", "when", "data", "contentType", "signature"} <= set(fields)


def test_the_docs_page_is_swagger_ui_served_from_here(config: Config) -> None:
    api = create_app(config).test_client()
    page = api.get("/docs")
    html = page.get_data(as_text=True)
    assert "/docs/assets/swagger-ui-bundle.js" in html and "validatorUrl: null" in html
    assert "http" not in html.replace("http-equiv", "")  # no address of another origin
    policy = page.headers["Content-Security-Policy"]
    assert "script-src 'self' 'nonce-" in policy and "connect-src 'self'" in policy
    script = api.get("/docs/assets/swagger-ui-bundle.js")
    assert script.status_code == 200 and b"SwaggerUIBundle" in script.data
    assert api.get("/docs/assets/../__init__.py").status_code == 404


DIALECT_ERRORS = {
    "/1/jobs": "WebhookJobsError",
    "/v4/": "PushSchedulesError",
    "/api/v1/": "TaskSchedulerFailure",
    "/api/jobs": "BeaconJobsError",
}


def test_every_dialect_operation_declares_its_answers_and_errors(config: Config) -> None:
    spec = create_app(config).test_client().get("/openapi.json").get_json()
    for path, ops in spec["paths"].items():
        error = next((e for prefix, e in DIALECT_ERRORS.items() if path.startswith(prefix)), None)
        for method, op in ops.items():
            answers = op["responses"]
            assert answers != {"200": {"description": "OK"}}, (method, path)
            if error is None:
                continue
            assert any(code.startswith("2") for code in answers), (method, path)
            for code in ("400", "401", "404", "405", "429", "503"):
                schema = answers[code]["content"]["application/json"]["schema"]
                assert schema == {"$ref": f"#/components/schemas/{error}"}, (method, path, code)
            for code, answer in answers.items():
                if code.startswith("2") and "content" in answer:
                    assert answer["content"]["application/json"]["schema"], (method, path)


def test_every_rate_limited_operation_documents_its_429(config: Config) -> None:
    """Every request but the probes and metrics counts against a limit, so a client (and a
    fuzzer checking status codes against the document) must find 429 documented everywhere."""
    from scheduler_api.ratelimit import UNCOUNTED_ENDPOINTS

    spec = create_app(config).test_client().get("/openapi.json").get_json()
    missing = [
        (method, path)
        for path, ops in spec["paths"].items()
        for method, op in ops.items()
        if op["operationId"].split("_", 1)[1] not in UNCOUNTED_ENDPOINTS
        and "429" not in op["responses"]
    ]
    assert missing == []
