"""Request parsing and response rendering shared by the dialect adapters: JSON (lenient about the
trailing commas some documented examples carry), safe XML, plain text, and ``Accept`` negotiation.

Nothing here knows a dialect; adapters pass their own element names and offered media types.
"""

from __future__ import annotations

import json
import re
from typing import Any
from xml.etree.ElementTree import Element, SubElement, tostring

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException
from flask import Request, Response

from shared import payload_limits

JSON = "application/json"
TEXT = "text/plain"
XML_TYPES = ("text/xml", "application/xml")
MESSAGE_MOST = 1000
_LONG_RUN = re.compile(r"\S{81,}")  # at most 81 steps from any start: linear


class BadDocument(ValueError):
    """The request body can't be read; the message says why (a 400)."""


class UnsupportedType(ValueError):
    """The request's Content-Type is not one the call accepts (a 415)."""


def media_type(request: Request) -> str:
    return (request.mimetype or "").lower()


def parse_json(raw: bytes, name: str = "") -> Any:
    """The JSON in ``raw``, refused (``BadDocument``) unless it is valid UTF-8 and holds only
    finite numbers, integers Python can read and valid Unicode (no lone surrogate escapes such as
    ``"\\ud800"``), the message naming where (``name``, else the top-level field's path)."""
    text = _decode(raw)
    try:
        try:
            value = _loads(text)
        except json.JSONDecodeError as first:
            try:  # the documents' own examples end objects with a trailing comma
                value = _loads(_drop_trailing_commas(text))
            except json.JSONDecodeError:
                problem = f"{first.msg} at char {first.pos}"
                raise BadDocument(f"{name or 'body'} is not valid JSON: {problem}") from None
    except RecursionError:
        raise BadDocument(f"{name or 'body'} is nested too deeply") from None
    unstorable = payload_limits.first_unstorable(value, name)
    if unstorable:
        raise BadDocument(unstorable)
    return value


def _loads(text: str) -> Any:
    # json.loads reads NaN, Infinity and 1e999 (as float inf): first_unstorable refuses them
    return json.loads(text, parse_int=payload_limits.parse_int)


def _drop_trailing_commas(text: str) -> str:
    """Remove commas that directly precede ``}`` or ``]`` (whitespace between), outside strings.

    One pass: the last comma's position is remembered until the next non-space character says
    whether it was trailing, so the work is linear in the text (no look-ahead per comma)."""
    out: list[str] = []
    comma: int | None = None  # index in out of a comma not yet followed by anything but spaces
    in_string = escaped = False
    for char in text:
        if in_string:  # a quote after a backslash does not end the string
            in_string = escaped or char != '"'
            escaped = not escaped and char == "\\"
        elif char in "}]" and comma is not None:
            out[comma] = ""
        elif char == ",":
            comma = len(out)
        elif char == '"':
            in_string = True
        if not char.isspace() and char != ",":
            comma = None
        out.append(char)
    return "".join(out)


def parse_xml_fields(raw: bytes, root: str) -> dict[str, str]:
    """``<root><name>text</name>...</root>`` as a dict; no DTDs, entities or external refs."""
    try:
        element = SafeET.fromstring(raw, forbid_dtd=True)
    except SafeET.ParseError as exc:  # expat's reason and position, nothing of the document
        raise BadDocument(f"body is not acceptable XML: {exc}") from None
    except DefusedXmlException:  # its message would quote the DTD's or entity's text
        raise BadDocument("body is not acceptable XML: DTDs and entities are refused") from None
    except ValueError:
        raise BadDocument("body is not acceptable XML") from None
    if element.tag != root:
        raise BadDocument(f"XML root element must be <{root}>, not <{excerpt(element.tag)}>")
    fields: dict[str, str] = {}
    for child in element:
        if len(child):
            raise BadDocument(f"<{excerpt(child.tag)}> must hold text, not elements")
        if child.tag in fields:
            raise BadDocument(f"<{excerpt(child.tag)}> appears twice")
        fields[str(child.tag)] = child.text or ""
    return fields


def excerpt(value: object, most: int = 40) -> str:
    """``value`` as text for an error message: at most ``most`` characters of it, so a message
    never carries a large part of a request back."""
    text = str(value)
    return text if len(text) <= most else text[:most] + f"...({len(text)} characters)"


def clip_message(message: str) -> str:
    """An error message as answered: each long run of non-space characters (a quoted value, a
    parameter name) cut to an excerpt, and the whole cut at MESSAGE_MOST characters, so however
    messages quote request input, none carries much of it back."""
    text = _LONG_RUN.sub(lambda run: excerpt(run[0]), message)
    return text if len(text) <= MESSAGE_MOST else excerpt(text, MESSAGE_MOST)


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadDocument(f"body is not UTF-8 ({exc.reason} at byte {exc.start})") from None


def choose(request: Request, offered: tuple[str, ...]) -> str | None:
    """The offered type the client prefers by its ``Accept`` quality factors (the first offered
    when it sends none); None when it accepts none of them."""
    accept = request.headers.get("Accept")
    if not accept:
        return offered[0]
    if accept in offered:  # one plain type, as most clients send: what parsing would choose
        return accept
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
