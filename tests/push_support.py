"""What the /v4/schedules tests share: the document's examples (put in the future), request
helpers and the refusal check (the account in Europe/Paris is the ``paris`` fixture, conftest)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask.testing import FlaskClient

from tests.support import basic

# The document's create example, verbatim but for the time ("2022-11-23 19:20:00"), which is put
# in the future by ``example``.
CREATE_EXAMPLE = """{
    "name":"the schedule task example",
    "enabled":true,
    "trigger":{
        "single":{
            "time":"2022-11-23 19:20:00",
            "zone_type":1
        }
    },
    "push":{
        "from":"push",
        "to":{
            "registration_id":[
                "1a0018970ab49abda3e",
                "100d85590955c1d2793"
            ]
        },
        "body":{
            "platform":"android",
            "notification":{
                "alert":"api schedule task example",
                "android":{
                    "title":"api schedule task example",
                    "extras":{
                        "key1":"value1"
                    }
                }
            },
            "message":{

            },
            "options":{
                "time_to_live":60
            }
        },
        "request_id":"12345",
        "custom_args":"business info"
    }
}"""

# The document's update example ("RIGHT: update the platform in push to ios"), as a whole doc.
UPDATE_EXAMPLE = """{
    "name":"Timed Push Example",
    "enabled":true,
    "trigger":{
        "single":{
            "time":"2022-11-23 19:20:00",
            "zone_type":1
        }
    },
    "push":{
        "from":"push",
        "to":{
            "registration_id":[
                "1a0018970ab49abda3e",
                "100d85590955c1d2793"
            ]
        },
        "body":{
            "platform":"ios",
            "notification":{
                "alert":"api device scheduled tasks",
                "ios":{
                    "title":"api device scheduled tasks",
                    "extras":{
                        "key1":"value1"
                    }
                }
            },
            "message":{

            },
            "options":{
                "time_to_live":60
            }
        },
        "request_id":"12345",
        "custom_args":"business info"
    }
}"""

JSON = {"Content-Type": "application/json", "Accept": "application/json"}


def wall(delta: timedelta, zone: str = "UTC") -> str:
    return (datetime.now(ZoneInfo(zone)) + delta).strftime("%Y-%m-%d %H:%M:%S")


def example(text: str = CREATE_EXAMPLE, when: str | None = None) -> str:
    return text.replace("2022-11-23 19:20:00", when or wall(timedelta(hours=1)))


def doc(**changes: Any) -> dict[str, Any]:
    data = json.loads(example())
    data.update(changes)
    return data


def post(api: FlaskClient, creds: dict[str, str], body: Any, **headers: str) -> Any:
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    return api.post("/v4/schedules", data=data, headers={**basic(creds), **JSON, **headers})


def refused(response: Any, code: int, status: int, *words: str) -> None:
    assert response.status_code == status, response.get_data(as_text=True)
    error = response.get_json()["error"]
    assert error["code"] == code
    for word in words:
        assert word in error["message"], error["message"]


def push_with(**changes: Any) -> dict[str, Any]:
    push_doc = doc()["push"]
    body = {**push_doc["body"], **changes.pop("body", {})}
    return {**push_doc, **changes, "body": body}
