"""U+0000 in an HTTP body is a 4xx ``invalid`` naming the field, never a 500 from PostgreSQL (which
cannot store it in text): JSON bodies read by ``read_json_object`` and CSV imports."""

from __future__ import annotations

import copy
import json
from typing import Any

import httpx
import pytest
from starlette.requests import Request

from core.http import HTTPError, read_json_object
from tests.admin.test_import_e2e import GOOD, count, csv_body, post_csv
from tests.admin.test_register_amend_e2e import put
from tests.admin.test_register_e2e import CASE, closed_conversation
from tests.conftest import ServerFactory

pytestmark = pytest.mark.anyio


def refused(response: httpx.Response, fields: set[str]) -> None:
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] == "invalid" and set(body["fields"]) == fields, body
    assert all("U+0000" in why for why in body["fields"].values()), body


@pytest.mark.postgres
async def test_a_nul_in_a_json_body_is_invalid_not_a_server_error(make_server: ServerFactory) -> None:
    server = await make_server("postgres")
    async with httpx.AsyncClient(base_url=server.base, timeout=10) as http:
        for body in ({"username": "amina\u0000", "password": "x"}, {"username": "amina", "password": "\u0000"}):
            r = await http.post("/api/v1/auth/login", json=body)
            refused(r, {next(k for k, v in body.items() if "\x00" in v)})

    amina, cid = await closed_conversation(server)
    url = f"/api/v1/conversations/{cid}/registration"
    refused(await amina.post(url, {**CASE, "note": "oppfølging\u0000"}), {"note"})
    refused(await amina.post(url, {**CASE, "actions": ["advice_given", "x\u0000"]}), {"actions.1"})
    created = await amina.post(url, {**CASE, "note": "oppfølging"})  # nothing was half-stored
    assert created.status_code == 201, created.text

    admin = await server.login("admin")
    new = {"code": "digital_control", "name": {"nb": "Digital\u0000kontroll", "en": "Digital control"}}
    refused(await admin.post("/api/v1/reference/categories", new), {"name.nb"})
    refused(await admin.post("/api/v1/reference/categories", {**new, "name": {"nb\u0000": "x"}}), {"name"})
    guideline = (await admin.get("/api/v1/guideline")).json()
    replacement = {k: copy.deepcopy(guideline[k]) for k in ("case_rule", "not_a_case", "note_warning", "categories")}
    replacement["categories"]["other"]["en"] += "\u0000"
    refused(await put(admin, "/api/v1/guideline", replacement), {"categories.other.en"})
    assert "Traceback" not in server.log()


@pytest.mark.postgres
async def test_a_nul_in_an_imported_csv_is_refused_and_nothing_is_imported(make_server: ServerFactory) -> None:
    server = await make_server("postgres")
    admin = await server.login("admin")
    rows = [*GOOD, "kt-\x004,2026-02-05,false,,,,self,18_25,girl_woman,,03"]
    r = await post_csv(admin, csv_body(*rows))
    assert r.status_code == 422, r.text
    assert r.json()["error"] == "invalid" and r.json()["fields"] == {"file": "contains U+0000 (NUL) on line 5"}
    assert await count(server.database_url) == 0
    assert (await post_csv(admin, csv_body(*GOOD))).status_code == 201


def request_with(body: bytes) -> Request:
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    scope = {"type": "http", "method": "POST", "headers": [(b"content-type", b"application/json")]}
    return Request(scope, receive)


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"a": "x\u0000"}, {"a"}),
        ({"a": {"b": [1, "ok", {"c": "\u0000"}]}}, {"a.b.2.c"}),
        ({"a\u0000": 1}, {"body"}),
        ({"a": {"b\u0000": 1}, "c": ["\u0000", "\u0000"]}, {"a", "c.0", "c.1"}),
    ],
)
async def test_read_json_object_names_each_string_holding_a_nul(body: dict[str, Any], fields: set[str]) -> None:
    for encoded in (json.dumps(body).encode(), json.dumps(body).encode("utf-16")):  # JSON may come as UTF-16
        with pytest.raises(HTTPError) as caught:
            await read_json_object(request_with(encoded))
        assert caught.value.code == "invalid" and set(caught.value.fields or {}) == fields


async def test_read_json_object_takes_other_control_characters_and_deep_nesting() -> None:
    body = {"note": "linje 1\nlinje 2\t\u0001\u007f\u0085", "deep": json.loads("[" * 500 + "]" * 500)}
    assert await read_json_object(request_with(json.dumps(body).encode())) == body
