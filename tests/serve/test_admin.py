"""Adding and removing runs on a running server, behind the API key."""

from __future__ import annotations

import httpx
import pytest

from .conftest import API_KEY, QUESTION, assert_openai_error


@pytest.fixture
def admin(keyed_server):
    headers = {"Authorization": f"Bearer {API_KEY}"}
    with httpx.Client(base_url=keyed_server.url, headers=headers, timeout=60) as session:
        yield session


def ask(admin, model: str) -> httpx.Response:
    body = {"model": model, "messages": QUESTION, "max_tokens": 8}
    return admin.post("/v1/chat/completions", json=body)


def model_ids(admin) -> set[str]:
    return {m["id"] for m in admin.get("/v1/models").json()["data"]}


def test_add_a_lora_run_use_it_and_remove_it(admin, trained_runs, reference):
    added = admin.post("/admin/runs", json={"name": "gamma", "path": str(trained_runs["beta"])})
    assert added.status_code == 201, added.text
    assert added.json()["kind"] == "lora"
    assert "gamma" in model_ids(admin)
    answer = ask(admin, "gamma").json()["choices"][0]["message"]["content"]
    (expected,) = reference("beta", [QUESTION], 8)
    assert answer.strip() == expected.text
    assert ask(admin, "alpha").status_code == 200  # the other adapters are untouched

    removed = admin.delete("/admin/runs/gamma")
    assert removed.json() == {"id": "gamma", "object": "model", "deleted": True}
    assert "gamma" not in model_ids(admin)
    assert_openai_error(ask(admin, "gamma"), 404, code="model_not_found")
    alpha = ask(admin, "alpha").json()["choices"][0]["message"]["content"]
    assert alpha.strip() == reference("alpha", [QUESTION], 8)[0].text


def test_add_a_freeze_run_as_its_own_model_and_remove_it(admin, trained_runs):
    added = admin.post("/admin/runs", json={"name": "ice", "path": str(trained_runs["frozen"])})
    assert added.json()["kind"] == "freeze"
    frozen = ask(admin, "frozen").json()["choices"][0]["message"]["content"]
    assert ask(admin, "ice").json()["choices"][0]["message"]["content"] == frozen
    assert admin.delete("/admin/runs/ice").status_code == 200
    assert_openai_error(ask(admin, "ice"), 404)


def test_admin_mistakes(admin, trained_runs, tmp_path):
    def add(name, path):
        return admin.post("/admin/runs", json={"name": name, "path": str(path)})

    assert_openai_error(add("alpha", trained_runs["beta"]), 409, code="name_taken")
    assert_openai_error(add("tiny", trained_runs["beta"]), 409)
    assert_openai_error(add("../evil", trained_runs["beta"]), 400, param="name")
    assert_openai_error(add("new", tmp_path / "missing"), 400, code="invalid_run")
    assert_openai_error(add("new", tmp_path), 400, code="invalid_run")
    assert_openai_error(admin.post("/admin/runs", json={"name": "x"}), 400, param="path")
    assert_openai_error(admin.delete("/admin/runs/nothing"), 404)
    assert_openai_error(admin.delete("/admin/runs/tiny"), 400)
    assert "new" not in model_ids(admin)
