"""deploy/compose.yaml and its Caddyfile stay true to docs/deploy.md: every replica shares
the PostgreSQL, outlasts the drain when stopped, and is behind the proxy, which passes on
only OpenAI's webhook (and /calls on the host's loopback)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from engine.server import EngineSettings

REPO = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((REPO / "deploy" / "compose.yaml").read_text(encoding="utf-8"))
CADDYFILE = (REPO / "deploy" / "Caddyfile").read_text(encoding="utf-8")


def seconds(text: str) -> float:
    match = re.fullmatch(r"(\d+)(s|m)", text)
    assert match, text
    return int(match[1]) * (60 if match[2] == "m" else 1)


def replicas() -> dict[str, dict]:
    return {n: s for n, s in COMPOSE["services"].items() if n.startswith("engine")}


def test_every_replica_shares_the_postgresql_and_outlasts_the_drain():
    found = replicas()
    assert len(found) >= 2
    drain = EngineSettings.__dataclass_fields__["drain_timeout_s"].default
    for name, service in found.items():
        url = next(e for e in service["environment"] if e.startswith("ENGINE_DATABASE_URL="))
        assert url.split("=", 1)[1].startswith("postgresql://"), name
        assert "@postgres:5432/" in url, name
        assert seconds(service["stop_grace_period"]) > drain, name
        assert "../flows:/flows:ro" in service["volumes"], name
        assert service["depends_on"]["postgres"]["condition"] == "service_healthy"
        assert "ports" not in service, f"{name} is reached through the proxy only"


def test_the_proxy_sends_webhooks_to_every_ready_replica_and_nothing_else():
    upstreams = re.findall(r"reverse_proxy ([^{]+)\{", CADDYFILE)
    assert len(upstreams) == 2, upstreams
    for listed in upstreams:
        assert sorted(u.split(":")[0] for u in listed.split()) == sorted(replicas())
    public = CADDYFILE.split("{$PUBLIC_HOST} {", 1)[1].split("\n}\n", 1)[0]
    assert "handle /webhooks/openai {" in public and "health_uri /readyz" in public
    assert re.search(r"handle \{\s*respond 404\s*\}", public), "everything else is 404"
    assert "127.0.0.1:8080:8080" in COMPOSE["services"]["proxy"]["ports"]


def test_the_deploy_page_points_at_the_files_it_describes():
    page = (REPO / "docs" / "deploy.md").read_text(encoding="utf-8")
    for target in re.findall(r"\]\(\.\./([^)#]+)\)", page):
        assert (REPO / target).exists(), target
