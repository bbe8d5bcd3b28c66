"""/1/jobs end to end: the API writes, a real beat and webhook worker deliver to a receiver on
127.0.0.1 that verifies our signatures with the ``standardwebhooks`` library."""

from __future__ import annotations

import json

from flask.testing import FlaskClient
from standardwebhooks.webhooks import Webhook

from shared.accounts import create_account
from shared.store import Store
from shared.timing import parse_iso8601
from tests.support import HttpReceiver, ProcessGroup, basic, iso, now_ms, wait_until


def test_a_when_job_fires_once_signed_and_disappears(
    local_api: tuple[FlaskClient, dict[str, str]],
    store: Store,
    processes: ProcessGroup,
    receiver: HttpReceiver,
) -> None:
    api, creds = local_api
    processes.beat()
    processes.worker("webhooks")
    wait_until(store.last_beat_ms, what="beat running")

    doc = {
        "url": receiver.url + "/cb",
        "data": "testing",
        "contentType": "text/plain",
        "signature": "507aaa07",
        "when": iso(now_ms() + 1500),
    }
    created = api.post(
        "/1/jobs",
        data=json.dumps(doc),
        headers={**basic(creds), "Content-Type": "application/json"},
    )
    job_id = created.get_data(as_text=True)
    assert created.status_code == 200

    wait_until(lambda: receiver.count() == 1, what="the callback")
    hit = receiver.requests[0]
    assert (hit.body, hit.headers["Content-Type"], hit.headers["X-Content-Signature"]) == (
        b"testing",
        "text/plain",
        "507aaa07",
    )
    Webhook(creds["webhook_secret"]).verify(
        hit.body, hit.headers, json_parse=False
    )  # raises if bad
    assert hit.at_ms >= parse_iso8601(doc["when"])
    # purged after it fired: no longer listed or readable (its run history stays readable)
    wait_until(
        lambda: api.get(f"/1/jobs/{job_id}", headers=basic(creds)).status_code == 404,
        what="the purge",
    )
    assert api.get("/1/jobs", headers={**basic(creds), "Accept": "text/plain"}).data == b""
    runs = wait_until(
        lambda: api.get(f"/1/jobs/{job_id}/runs", headers=basic(creds)).get_json(),
        what="the run record of the purged job",
    )
    assert [run["status"] for run in runs] == ["succeeded"]
    other = create_account(store, "other", secret_key=b"k" * 32, now_ms=now_ms())
    assert api.get(f"/1/jobs/{job_id}/runs", headers=basic(other)).status_code == 404
    seen = now_ms()
    wait_until(lambda: (store.last_beat_ms() or 0) > seen + 1000, what="more ticks")
    assert receiver.count() == 1


def test_a_cron_job_fires_and_reports_its_next_fire(
    local_api: tuple[FlaskClient, dict[str, str]],
    store: Store,
    processes: ProcessGroup,
    receiver: HttpReceiver,
) -> None:
    api, creds = local_api
    body = f"<job><url>{receiver.url}/tick</url><cron>0 */10 * * * ?</cron></job>"
    job = api.post(
        "/1/jobs",
        data=body,
        headers={**basic(creds), "Content-Type": "text/xml", "Accept": "application/json"},
    ).get_json()
    first_next = parse_iso8601(job["next"])
    assert first_next % 600_000 == 0 and first_next > now_ms()

    # Let ten minutes pass in no time: the job's next fire moves to now.
    due = now_ms()
    store.redis.zadd(store.keys.due(), {job["id"]: due})
    processes.beat()
    processes.worker("webhooks")
    wait_until(lambda: receiver.count() == 1, what="the cron callback")
    later = api.get(f"/1/jobs/{job['id']}", headers={**basic(creds), "Accept": "application/json"})
    next_ms = parse_iso8601(later.get_json()["next"])
    assert next_ms % 600_000 == 0 and due < next_ms <= due + 600_000
    runs = wait_until(
        lambda: api.get(f"/1/jobs/{job['id']}/runs", headers=basic(creds)).get_json(),
        what="the run record",
    )
    assert runs[0]["status"] == "succeeded" and runs[0]["httpStatus"] == 200
    assert runs[0]["execution"] == f"{job['id']}:{due}"


def test_a_failing_callback_is_retried_signed_then_dead_lettered_and_redriven(
    local_api: tuple[FlaskClient, dict[str, str]], store: Store, processes: ProcessGroup
) -> None:
    api, creds = local_api
    with HttpReceiver(statuses=[500, 503, 500]) as receiver:
        processes.beat()
        processes.worker("webhooks", max_attempts=3, retry_base_s=0.1, retry_max_s=0.3)
        doc = {"url": receiver.url + "/cb", "data": "payload", "when": iso(now_ms() + 1000)}
        job_id = api.post(
            "/1/jobs",
            data=json.dumps(doc),
            headers={**basic(creds), "Content-Type": "application/json"},
        ).get_data(as_text=True)
        listed = wait_until(
            lambda: api.get("/1/jobs/dead-letters", headers=basic(creds)).get_json(),
            what="a dead letter",
        )
        assert receiver.count() == 3
        assert [(d["job"], d["attempts"]) for d in listed] == [(job_id, 3)]
        assert "500" in listed[0]["error"]
        # every attempt carries a valid signature, and the same webhook-id: the execution id
        for hit in receiver.requests:
            Webhook(creds["webhook_secret"]).verify(hit.body, hit.headers, json_parse=False)
        assert {hit.headers["webhook-id"] for hit in receiver.requests} == {listed[0]["execution"]}

        other = create_account(store, "other", secret_key=b"k" * 32, now_ms=now_ms())
        execution = listed[0]["execution"]
        path = f"/1/jobs/dead-letters/{execution}/redrive"
        assert api.get("/1/jobs/dead-letters", headers=basic(other)).get_json() == []
        assert api.post(path, headers=basic(other)).status_code == 404

        receiver.statuses.append(200)  # the receiver is fixed
        assert api.post(path, headers=basic(creds)).status_code == 202
        wait_until(lambda: receiver.count() == 4, what="the redriven callback")
        assert receiver.requests[3].headers["webhook-id"] == execution

        def statuses() -> list[str]:
            runs = api.get(f"/1/jobs/{job_id}/runs", headers=basic(creds)).get_json()
            return [run["status"] for run in runs]

        wait_until(lambda: statuses()[0] == "succeeded", what="the redriven run's record")
        assert statuses() == ["succeeded", "dead", "retrying", "retrying"]
        assert api.get("/1/jobs/dead-letters", headers=basic(creds)).get_json() == []
        assert api.post(path, headers=basic(creds)).status_code == 404
