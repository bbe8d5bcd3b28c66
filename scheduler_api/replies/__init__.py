"""The shapes of the answers each dialect gives, as marshmallow schemas, for ``/openapi.json``.

One module per dialect, its package's ``replies`` (``scheduler_api.<dialect>.replies``), beside
its routes: the adapters build their answers as plain dicts; these schemas only describe them,
and the fuzz test checks every answer against them. ``Meta.unknown = RAISE`` makes apispec
write ``additionalProperties: false``, so a field an answer grows without being documented
fails that check.
"""

from marshmallow import RAISE, Schema


class Strict(Schema):
    """An answer object with exactly the fields its schema names."""

    class Meta:
        unknown = RAISE
