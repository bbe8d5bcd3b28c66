"""Push targets: who a push reaches, in which time zone, and the gateway credentials to send it.

Pure functions over the device registry (``Store.all_devices``/``get_devices``), plus the sealing
of each account's gateway credentials. The API adapter plans a schedule with these, and the push
pool resolves each fire's devices with them again at fire time.

A push's audience (``to``) is ``"all"`` or an object with ``registration_id``, ``tag`` (any of),
``tag_and`` (all of), ``tag_not`` (none of) and ``alias`` lists. Resolved against the registry
(devices registered with ``PUT /v4/devices/<registration_id>``): a listed ``registration_id``
always counts (unregistered, it has no known zone); tags and aliases can only be known from the
registry.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from cryptography.fernet import Fernet, InvalidToken

from shared.store import Store
from shared.timing import wall_clock_to_utc_ms

# Most registration ids in one gateway push (the /v4/push limit); larger audiences go in batches.
BATCH = 1000
_CREDENTIALS_INFO = b"push-gateway-credentials/v1"


# --- audiences ---------------------------------------------------------------------------------


def matches(device: dict[str, Any], to: dict[str, Any]) -> bool:
    """Whether a registered device is in the tag/alias part of the audience ``to``."""
    tags = set(device.get("tags") or ())
    if "tag" in to and not tags & set(to["tag"]):
        return False
    if "tag_and" in to and not set(to["tag_and"]) <= tags:
        return False
    if "tag_not" in to and tags & set(to["tag_not"]):
        return False
    return not ("alias" in to and device.get("alias") not in to["alias"])


def audience_zones(store: Store, account: str, to: Any) -> dict[str, str | None]:
    """registration id -> its registered zone (None if unknown), for every device of ``to``."""
    if to == "all":
        return {rid: d.get("timezone") for rid, d in store.all_devices(account).items()}
    listed = list(dict.fromkeys(to.get("registration_id") or ()))
    zones: dict[str, str | None] = {}
    for rid, device in zip(listed, store.get_devices(account, listed), strict=True):
        zones[rid] = (device or {}).get("timezone")
    if any(key in to for key in ("tag", "tag_and", "alias")):
        for rid, device in store.all_devices(account).items():
            if rid not in zones and matches(device, to):
                zones[rid] = device.get("timezone")
    return zones


def by_zone(zones: dict[str, str | None], default_zone: str) -> dict[str, list[str]]:
    """zone -> its registration ids; devices with no known zone follow ``default_zone``."""
    groups: dict[str, list[str]] = {}
    for rid, zone_name in zones.items():
        groups.setdefault(zone_name or default_zone, []).append(rid)
    return groups


def plan_instants(wall: datetime, zone_names: Iterable[str]) -> dict[int, list[str]]:
    """The instant ``wall`` happens in each zone -> the zones where it happens then (zones on the
    same UTC offset at that moment share one instant), in instant order."""
    plan: dict[int, list[str]] = {}
    for zone_name in sorted(set(zone_names)):
        plan.setdefault(wall_clock_to_utc_ms(wall, zone_name), []).append(zone_name)
    return dict(sorted(plan.items()))


def batches(items: list[str], size: int = BATCH) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# --- gateway credentials -----------------------------------------------------------------------


def _fernet(secret_key: bytes) -> Fernet:
    """A Fernet key derived from the service's secret key: the same on every host, unstored."""
    derived = hmac.new(secret_key, _CREDENTIALS_INFO, hashlib.sha256).digest()
    return Fernet(base64.urlsafe_b64encode(derived))


def set_credentials(store: Store, secret_key: bytes, appkey: str, key: str, secret: str) -> None:
    """Store an account's push gateway credentials (HTTP Basic ``key:secret``), encrypted: the
    pool must send them, so a digest would not do."""
    sealed = _fernet(secret_key).encrypt(json.dumps({"key": key, "secret": secret}).encode())
    store.put_push_credentials(appkey, sealed.decode())


def credentials(store: Store, secret_key: bytes, appkey: str) -> tuple[str, str] | None:
    """The account's gateway credentials, or None (never set, or sealed with another key)."""
    sealed = store.sealed_push_credentials(appkey)
    if not sealed:
        return None
    try:
        data = json.loads(_fernet(secret_key).decrypt(sealed.encode()))
    except InvalidToken:
        return None
    return data["key"], data["secret"]
