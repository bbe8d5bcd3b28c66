"""Numbers in request parameters, read the same way by every dialect.

Python's ``int()`` reads far more than a client means by a number: Arabic-Indic and other Unicode
digits (``int("١٢") == 12``), superscripts that ``str.isdigit()`` admits but ``int()`` then
refuses with an error (``"²"``), and thousands of digits (a ValueError past 4,300). A number here
is at most 18 ASCII digits, with an optional minus sign: anything else is refused, so it is the
dialect's 400 naming the parameter, never a 500 and never a surprising match.
"""

from __future__ import annotations

import re
from typing import Any

from marshmallow import fields

MAX_DIGITS = 18
_INTEGER = re.compile(rf"-?[0-9]{{1,{MAX_DIGITS}}}")


def integer(text: str) -> int | None:
    """``text`` (surrounding whitespace aside) as an int, or None if it is not 1-18 ASCII digits
    with an optional leading minus."""
    text = text.strip()
    return int(text) if _INTEGER.fullmatch(text) else None


def whole_number(text: str) -> int | None:
    """``text`` as an int >= 0 (1-18 ASCII digits), or None."""
    number = integer(text)
    return number if number is not None and not text.strip().startswith("-") else None


class Integer(fields.Integer):
    """marshmallow's Integer, reading strings as ``integer()`` does (ASCII digits only, at most
    18); JSON numbers as marshmallow does (whole floats such as ``3.0`` pass, ``NaN`` does not)."""

    def _validated(self, value: Any) -> int:
        if isinstance(value, str):
            number = integer(value)
            if number is None:
                raise self.make_error("invalid")
            return number
        if isinstance(value, bool):
            raise self.make_error("invalid")
        return super()._validated(value)
