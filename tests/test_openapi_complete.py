"""Every operation of every dialect in /openapi.json is complete: its credentials (or an explicit
none), its request body's schema and examples where it takes a body, its answers' schemas and
examples, its dialect's error answers with a real example each; and every example is valid
against the schema it illustrates (JSON examples by JSON Schema, XML ones parse)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from defusedxml import ElementTree
from jsonschema.validators import Draft4Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

from scheduler_api.app import create_app
from shared.config import Config

DIALECTS = {  # path prefix -> its credentials
    "/1/jobs": {"basic"},
    "/v4/": {"basic"},
    "/api/v1/": {"basic"},
    "/api/jobs": {"userkey"},
}
ERROR_STATUSES = {"400", "401", "404", "429", "503"}  # every dialect may answer these anywhere
TAKES_NO_BODY = {("post", "/1/jobs/dead-letters/{execution_id}/redrive")}
BODY_METHODS = {"post", "put", "patch"}
DOCUMENT = "urn:scheduler:openapi"


@pytest.fixture(scope="module")
def spec(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = str(tmp_path_factory.mktemp("openapi"))
    config = Config.from_env({}, redis_url=redis_url, data_dir=folder)
    document: dict[str, Any] = create_app(config).test_client().get("/openapi.json").get_json()
    return document


def dialect_operations(spec: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, operations in spec["paths"].items():
        if any(path.startswith(prefix) for prefix in DIALECTS):
            for method, operation in operations.items():
                yield method, path, operation


def examples_of(media: dict[str, Any]) -> list[Any]:
    if "example" in media:
        return [media["example"]]
    return [named["value"] for named in media.get("examples", {}).values()]


def test_every_operation_says_its_credentials_or_none(spec: dict[str, Any]) -> None:
    schemes = set(spec["components"]["securitySchemes"])
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            assert "security" in operation, (method, path)  # [] = explicitly none
            for requirement in operation["security"]:
                assert set(requirement) <= schemes, (method, path)
    for method, path, operation in dialect_operations(spec):
        wanted = next(v for prefix, v in DIALECTS.items() if path.startswith(prefix))
        named = {name for requirement in operation["security"] for name in requirement}
        assert named == wanted, (method, path)


def test_every_body_taking_operation_has_a_body_schema_and_examples(spec: dict[str, Any]) -> None:
    for method, path, operation in dialect_operations(spec):
        if method not in BODY_METHODS or (method, path) in TAKES_NO_BODY:
            assert "requestBody" not in operation, (method, path)
            continue
        content = operation["requestBody"]["content"]
        for media_type, media in content.items():
            assert media.get("schema"), (method, path, media_type)
            assert examples_of(media), (method, path, media_type)


def test_every_path_parameter_has_an_example(spec: dict[str, Any]) -> None:
    for method, path, operation in dialect_operations(spec):
        for parameter in operation.get("parameters", []):
            if parameter["in"] == "path":
                assert "example" in parameter or parameter.get("examples"), (method, path)


def test_every_answer_has_a_schema_and_an_example(spec: dict[str, Any]) -> None:
    for method, path, operation in dialect_operations(spec):
        answers = operation["responses"]
        assert set(answers) >= ERROR_STATUSES, (method, path)
        assert any(status.startswith("2") for status in answers), (method, path)
        for status, answer in answers.items():
            for media_type, media in answer.get("content", {}).items():
                where = (method, path, status, media_type)
                assert media.get("schema"), where
                assert examples_of(media), where
            if status.startswith(("4", "5")):
                assert answer.get("content"), (method, path, status)  # errors have a body


def all_media(spec: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            bodies = [operation.get("requestBody", {})] + list(operation["responses"].values())
            for body in bodies:
                for media_type, media in body.get("content", {}).items():
                    yield f"{method} {path} {media_type}", media


def test_every_example_is_valid_against_its_schema(spec: dict[str, Any]) -> None:
    """OpenAPI 3.0 schemas are JSON Schema draft 4 plus ``nullable``: the builder's schemas
    say null with ``nullable`` and it is turned into draft 4's type list here."""
    document = with_nullable_types(spec)
    # Each schema's "#/components/..." points into the document: give both the document's URI.
    registry: Registry = Registry().with_resource(DOCUMENT, Resource(document, DRAFT4))
    checked = 0
    for where, media in all_media(document):
        for example in examples_of(media):
            if "json" in where.rsplit(" ", 1)[1]:
                schema = json.loads(json.dumps(media["schema"]).replace('"#/', f'"{DOCUMENT}#/'))
                validator = Draft4Validator(schema, registry=registry)
                problems = [e.message for e in validator.iter_errors(example)]
                assert problems == [], (where, example)
            elif "xml" in where:
                ElementTree.fromstring(example.encode())
            checked += 1
    assert checked > 100


def with_nullable_types(node: Any) -> Any:
    if isinstance(node, list):
        return [with_nullable_types(item) for item in node]
    if not isinstance(node, dict):
        return node
    copy = {key: with_nullable_types(value) for key, value in node.items()}
    if copy.pop("nullable", False):
        if "type" in copy:
            copy["type"] = [copy["type"], "null"]
        elif "$ref" in copy or "allOf" in copy:
            copy = {"anyOf": [copy, {"type": "null"}]}
    return copy
