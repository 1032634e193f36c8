"""GraphiQL works offline: our page loads only vendored assets, whose bytes match the pinned manifest."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import httpx

import graphql_gateway

STATIC = Path(graphql_gateway.__file__).parent / "static"
VENDORED = STATIC / "graphiql"


def manifest() -> dict[str, str]:
    lines = (VENDORED / "MANIFEST").read_text().splitlines()
    return {
        name: digest for kind, digest, name in (line.split() for line in lines if line.startswith("sha256"))
    }


def test_vendored_files_match_the_manifest_exactly() -> None:
    expected = manifest()
    on_disk = {p.name for p in VENDORED.iterdir() if p.name != "MANIFEST"}
    assert on_disk == set(expected)
    for name, digest in expected.items():
        assert hashlib.sha256((VENDORED / name).read_bytes()).hexdigest() == digest, name


def test_manifest_pins_versions() -> None:
    packages = [
        line.split()[1]
        for line in (VENDORED / "MANIFEST").read_text().splitlines()
        if line.startswith("package")
    ]
    assert packages == ["graphiql@3.8.3", "graphql-ws@5.16.2", "react@18.3.1", "react-dom@18.3.1"]


async def test_browsers_get_the_page_and_it_loads_only_local_assets(client: httpx.AsyncClient) -> None:
    response = await client.get("/graphql", headers={"Accept": "text/html,application/xhtml+xml"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    page = response.text
    assert not re.search(r"https?://", page), "the page must not reach other hosts"
    urls = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert "/static/graphiql/graphiql.min.js" in urls
    assert "/static/geko-graphiql.js" in urls
    for url in urls:
        if url.startswith("data:"):
            continue
        asset = await client.get(url)
        assert asset.status_code == 200, url
        assert len(asset.content) > 0


async def test_the_bootstrap_script_sends_authorization_in_connection_init(client: httpx.AsyncClient) -> None:
    script = (await client.get("/static/geko-graphiql.js")).text
    assert "connectionParams" in script
    assert "authorization" in script
    assert not re.search(r"https?://", script)
