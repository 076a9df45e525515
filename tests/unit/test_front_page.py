"""The front page stays a front page, and the reference stays true to the app:
a short README with the two commands, CI running the second, and every route
the gateway serves listed on the endpoints page."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.routing import APIRoute, APIWebSocketRoute

from gateway.runtime.config import Settings
from gateway.server import records_api
from gateway.server.app import create_app
from transports.packages import installed

pytestmark = pytest.mark.timeout(60)

ROOT = Path(__file__).resolve().parents[2]


def test_the_readme_is_short_and_gives_the_two_commands():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 250
    assert "make serve" in readme and "make test" in readme
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_every_readme_link_into_docs_resolves():
    readme = (ROOT / "README.md").read_text()
    links = re.findall(r"\]\((docs/[^)#]+)", readme)
    assert links
    for link in links:
        assert (ROOT / link).exists(), link


def _shape(path: str) -> str:
    return re.sub(r"\{[^}]*\}", "{}", path)


def test_every_route_is_on_the_endpoints_page():
    page = _shape((ROOT / "docs" / "reference" / "endpoints.md").read_text())
    app = create_app(Settings()).app  # the guard's wrapped FastAPI app
    routers = [app, records_api.router(), *(package.router() for package in installed())]
    served = {
        route.path
        for router in routers
        for route in router.routes
        if isinstance(route, APIRoute | APIWebSocketRoute)
    }
    assert {"/healthz", "/twilio/media", "/browser/ws", "/calls/{key}"} <= served
    listed = set(re.findall(r"(?:GET|POST|DELETE|WS) (/[^`,\s]*)", page))
    missing = sorted(p for p in served if _shape(p) not in listed)
    assert missing == [], f"add these to docs/reference/endpoints.md: {missing}"
