"""Request parsing and response rendering shared by the dialect adapters: JSON (lenient about the
trailing commas some documented examples carry), safe XML, plain text, and ``Accept`` negotiation.

Nothing here knows a dialect; adapters pass their own element names and offered media types.
"""

from __future__ import annotations

import json
from typing import Any
from xml.etree.ElementTree import Element, SubElement, tostring

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException
from flask import Request, Response

JSON = "application/json"
TEXT = "text/plain"
XML_TYPES = ("text/xml", "application/xml")


class BadDocument(ValueError):
    """The request body can't be read; the message says why (a 400)."""


class UnsupportedType(ValueError):
    """The request's Content-Type is not one the call accepts (a 415)."""


def media_type(request: Request) -> str:
    return (request.mimetype or "").lower()


def parse_json(raw: bytes) -> Any:
    text = _decode(raw)
    try:
        return json.loads(text)
    except json.JSONDecodeError as first:
        try:  # the documents' own examples end objects with a trailing comma
            return json.loads(_drop_trailing_commas(text))
        except json.JSONDecodeError:
            raise BadDocument(f"body is not valid JSON: {first.msg} at char {first.pos}") from None
    except RecursionError:
        raise BadDocument("body is nested too deeply") from None


def _drop_trailing_commas(text: str) -> str:
    """Remove commas that directly precede ``}`` or ``]``, outside strings."""
    out: list[str] = []
    in_string = escaped = False
    for i, char in enumerate(text):
        if in_string:
            escaped = not escaped and char == "\\"
            in_string = escaped or char != '"'
        elif char == '"':
            in_string = True
        elif char == "," and text[i + 1 :].lstrip()[:1] in ("}", "]"):
            continue
        out.append(char)
    return "".join(out)


def parse_xml_fields(raw: bytes, root: str) -> dict[str, str]:
    """``<root><name>text</name>...</root>`` as a dict; no DTDs, entities or external refs."""
    try:
        element = SafeET.fromstring(raw, forbid_dtd=True)
    except (SafeET.ParseError, DefusedXmlException, ValueError) as exc:
        raise BadDocument(f"body is not acceptable XML: {exc}") from None
    if element.tag != root:
        raise BadDocument(f"XML root element must be <{root}>, not <{element.tag}>")
    fields: dict[str, str] = {}
    for child in element:
        if len(child):
            raise BadDocument(f"<{child.tag}> must hold text, not elements")
        if child.tag in fields:
            raise BadDocument(f"<{child.tag}> appears twice")
        fields[str(child.tag)] = child.text or ""
    return fields


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadDocument(f"body is not UTF-8 ({exc.reason} at byte {exc.start})") from None


def choose(request: Request, offered: tuple[str, ...]) -> str | None:
    """The offered type the client prefers by its ``Accept`` quality factors (the first offered
    when it sends none); None when it accepts none of them."""
    if not request.headers.get("Accept"):
        return offered[0]
    return request.accept_mimetypes.best_match(offered)


def xml_document(root: str, fields: dict[str, Any]) -> bytes:
    element = Element(root)
    for name, value in fields.items():
        if isinstance(value, list):
            for item in value:
                SubElement(element, name).text = str(item)
        elif value is not None:
            SubElement(element, name).text = str(value)
    return tostring(element, encoding="utf-8", xml_declaration=True)


def xml_text(root: str, text: str) -> bytes:
    element = Element(root)
    element.text = text
    return tostring(element, encoding="utf-8", xml_declaration=True)


def respond(body: bytes | str, mimetype: str, status: int = 200) -> Response:
    """A response with an explicit Content-Length (every response carries one)."""
    data = body.encode() if isinstance(body, str) else body
    charset = "; charset=utf-8" if mimetype in (JSON, TEXT, *XML_TYPES) else ""
    response = Response(data, status=status, content_type=mimetype + charset)
    response.headers["Content-Length"] = str(len(data))
    return response


def json_bytes(data: Any) -> bytes:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()
