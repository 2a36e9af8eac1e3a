"""The guideline (one place, served to the form, replaced by an admin) and reference administration
(codes stable, never reused, retired codes still valid for old records)."""

from __future__ import annotations

import copy
import subprocess
from pathlib import Path

import pytest

from tests import cli
from tests.admin.test_register_amend_e2e import BACKENDS, audit, put
from tests.admin.test_register_e2e import CASE, closed_conversation
from tests.conftest import LiveServer, ServerFactory

pytestmark = pytest.mark.anyio


async def test_guideline_is_served_to_staff_and_replaced_by_an_admin(server: LiveServer) -> None:
    amina = await server.login("amina")
    current = (await amina.get("/api/v1/guideline")).json()
    assert current["version"] == 0 and current["note_max"] == 500
    reference = (await amina.get("/api/v1/reference")).json()
    assert set(current["categories"]) == {c["code"] for c in reference["categories"]}
    for texts in [current["case_rule"], current["note_warning"], *current["categories"].values()]:
        assert set(texts) == {"nb", "en"} and all(texts.values())
    assert "identif" in current["note_warning"]["en"]

    replacement = {k: copy.deepcopy(current[k]) for k in ("case_rule", "not_a_case", "note_warning", "categories")}
    replacement["case_rule"]["nb"] = "Den offisielle veilederen: en sak er …"
    assert (await put(amina, "/api/v1/guideline", replacement)).status_code == 403
    admin = await server.login("admin")
    missing = copy.deepcopy(replacement)
    del missing["categories"]["other"]
    missing["categories"]["aliens"] = {"nb": "x", "en": "x"}
    missing["case_rule"]["en"] = ""
    r = await put(admin, "/api/v1/guideline", missing)
    assert r.status_code == 422
    assert set(r.json()["fields"]) == {"categories.other", "categories.aliens", "case_rule.en"}
    r = await put(admin, "/api/v1/guideline", replacement)
    assert r.status_code == 200 and r.json()["version"] == 1
    served = (await amina.get("/api/v1/guideline")).json()
    assert served["case_rule"]["nb"] == "Den offisielle veilederen: en sak er …" and served["updated_by"]
    assert [e["action"] for e in await audit(server, action="guideline_replaced")] == ["guideline_replaced"]


@pytest.mark.parametrize("backend", BACKENDS)
async def test_codes_are_added_retired_and_never_reused(make_server: ServerFactory, backend: str) -> None:
    server = await make_server(backend)
    admin = await server.login("admin")
    new = {"code": "digital_control", "name": {"nb": "Digital kontroll", "en": "Digital control"}}
    amina_plain = await server.login("amina")
    assert (await amina_plain.post("/api/v1/reference/categories", new)).status_code == 403
    added = await admin.post("/api/v1/reference/categories", new)
    assert added.status_code == 201, added.text
    public = (await admin.get("/api/v1/reference")).json()
    assert "digital_control" in [c["code"] for c in public["categories"]]

    amina, cid = await closed_conversation(server)
    body = {**CASE, "main_category": "digital_control"}
    created = await amina.post(f"/api/v1/conversations/{cid}/registration", body)
    assert created.status_code == 201, created.text
    rid = created.json()["registration_id"]

    retired = await put(admin, "/api/v1/reference/categories/digital_control", {"retired": True})
    assert retired.status_code == 200 and retired.json()["retired"] is True
    public = (await admin.get("/api/v1/reference")).json()
    assert "digital_control" not in [c["code"] for c in public["categories"]]
    listed = (await admin.get("/api/v1/reference/categories")).json()["entries"]
    assert {"code": "digital_control", "retired": True}.items() <= listed[-1].items()
    # Not for new registrations …
    _, cid2 = await closed_conversation(server)
    r = await amina.post(f"/api/v1/conversations/{cid2}/registration", {**CASE, "main_category": "digital_control"})
    assert r.status_code == 422 and set(r.json()["fields"]) == {"main_category"}
    # … but valid in the old one, which can still be amended with it, and counted.
    kept = await put(amina, f"/api/v1/registrations/{rid}", {**CASE, "main_category": "digital_control", "note": "ok"})
    assert kept.status_code == 200, kept.text
    sara = await server.login("sara")
    rows = (await sara.get("/api/v1/stats/cases", by="category")).json()["rows"]
    assert {"category": "digital_control", "count": "<5"} in rows
    # A code is never given again, retired or not.
    again = await admin.post("/api/v1/reference/categories", new)
    assert again.status_code == 409 and again.json()["error"] == "conflict"
    dup = await admin.post("/api/v1/reference/categories", {**new, "code": "forced_marriage"})
    assert dup.status_code == 409

    # Labels of regions and languages change; their codes do not come or go through the API.
    label = await put(admin, "/api/v1/reference/regions/03", {"name": {"nb": "Oslo kommune"}})
    assert label.status_code == 200 and label.json()["name"] == {"nb": "Oslo kommune", "en": "Oslo"}
    public = (await admin.get("/api/v1/reference")).json()
    assert public["regions"][0]["name"]["nb"] == "Oslo kommune"
    region = {"code": "99", "name": {"nb": "x", "en": "x"}}
    assert (await admin.post("/api/v1/reference/regions", region)).status_code == 403
    assert (await put(admin, "/api/v1/reference/regions/03", {"retired": True})).status_code == 422
    bad = await put(admin, "/api/v1/reference/categories/threats_violence", {"forms": [], "code": "x", "name": "y"})
    assert bad.status_code == 422 and set(bad.json()["fields"]) == {"forms", "code", "name"}
    assert (await put(admin, "/api/v1/reference/shoes/x", {})).status_code == 404
    line = await put(admin, "/api/v1/reference/help_lines/kors_pa_halsen", {"hours": "daily 14–23"})
    assert line.status_code == 200 and line.json()["hours"] == "daily 14–23"
    changes = [e["detail"] for e in await audit(server, action="reference_changed")]
    assert "help_lines/kors_pa_halsen: hours" in changes and "categories/digital_control: retired" in changes


def test_reference_and_guideline_from_the_command_line(tmp_path: Path) -> None:
    env = cli.environment(f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}")

    def nora(*args: str) -> subprocess.CompletedProcess[str]:
        return cli.run(*args, env=env)

    names = ["--nb", "henvist til helsesykepleier", "--en", "referred to the school nurse"]
    added = nora("reference", "add", "actions", "referred_school_nurse", *names)
    assert added.returncode == 0, added.stderr
    assert nora("reference", "add", "actions", "referred_school_nurse", "--nb", "x", "--en", "x").returncode == 1
    assert nora("reference", "set", "actions", "referred_school_nurse", "--retire").returncode == 0
    listed = nora("reference", "list", "actions").stdout
    assert '"code": "referred_school_nurse"' in listed and '"retired": true' in listed
    shown = nora("guideline", "show")
    assert shown.returncode == 0 and '"version": 0' in shown.stdout
    guide = tmp_path / "guideline.json"
    guide.write_text(shown.stdout, encoding="utf-8")
    replaced = nora("guideline", "set", str(guide))
    assert replaced.returncode == 0 and "version 1" in replaced.stdout, replaced.stderr
