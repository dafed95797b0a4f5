"""POST /admin/reload: off without a token, refused without the right one, a no-op when nothing
changed; a missing or short token stops the server at start. (Forced reloads of a new or repaired
bundle: tests/test_service_reload.py.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from inttower.cli import app
from service.settings import MIN_ADMIN_TOKEN


@pytest.mark.parametrize("token", ["", "short"])
def test_the_server_refuses_to_start_with_an_empty_or_short_admin_token(
        token: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTTOWER_ADMIN_TOKEN", token)
    result = CliRunner().invoke(app, ["serve", "--artifacts", str(tmp_path)])
    assert result.exit_code != 0
    assert f"at least {MIN_ADMIN_TOKEN} characters" in result.output


def test_admin_reload_does_not_exist_without_a_configured_token(client: TestClient,
                                                                admin_token: str) -> None:
    assert client.post("/admin/reload", headers={"x-admin-token": admin_token}).status_code == 404


@pytest.mark.parametrize("headers", [{}, {"x-admin-token": "guess"},
                                     {"x-admin-token": "é".encode("latin-1")}])
def test_admin_reload_needs_the_token(admin_client: TestClient, headers: dict[str, Any]) -> None:
    response = admin_client.post("/admin/reload", headers=headers)
    assert response.status_code == 403


def test_admin_reload_with_nothing_new_changes_nothing(admin_client: TestClient,
                                                       admin_token: str) -> None:
    live = admin_client.get("/model").json()["version"]
    response = admin_client.post("/admin/reload", headers={"x-admin-token": admin_token})
    assert response.json() == {"model_version": live, "previous_version": live,
                               "reloaded": False}
