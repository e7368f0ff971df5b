"""Small raw-HTTP helpers for emulator tests: what any client of X sends, nothing more."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx

from mediakit._detect import sniff

CHUNK = 1024 * 1024


async def initialize(
    client: httpx.AsyncClient, total_bytes: int, media_type: str, category: str | None
) -> httpx.Response:
    body: dict[str, Any] = {"total_bytes": total_bytes, "media_type": media_type}
    if category:
        body["media_category"] = category
    return await client.post("/2/media/upload/initialize", json=body)


async def append(
    client: httpx.AsyncClient, media_id: str, index: int, chunk: bytes
) -> httpx.Response:
    return await client.post(
        f"/2/media/upload/{media_id}/append",
        data={"segment_index": str(index)},
        files={"media": ("blob", chunk, "application/octet-stream")},
    )


async def finalize(client: httpx.AsyncClient, media_id: str) -> httpx.Response:
    return await client.post(f"/2/media/upload/{media_id}/finalize")


async def status(client: httpx.AsyncClient, media_id: str) -> httpx.Response:
    return await client.get("/2/media/upload", params={"command": "STATUS", "media_id": media_id})


async def upload_bytes(
    client: httpx.AsyncClient,
    data: bytes,
    category: str | None,
    media_type: str | None = None,
    chunk: int = CHUNK,
    parallel: bool = True,
) -> tuple[str, httpx.Response]:
    """INIT, APPEND every chunk (in parallel, last first), FINALIZE; returns id and FINALIZE."""
    media_type = media_type or sniff(data[:4096]) or "image/jpeg"
    init = await initialize(client, len(data), media_type, category)
    assert init.status_code == 200, init.text
    media_id = init.json()["data"]["id"]
    pieces = [data[i : i + chunk] for i in range(0, len(data), chunk)] or [b""]
    order = list(reversed(range(len(pieces))))
    if parallel:
        answers = await asyncio.gather(*(append(client, media_id, i, pieces[i]) for i in order))
    else:
        answers = [await append(client, media_id, i, pieces[i]) for i in order]
    for answer in answers:
        assert answer.status_code == 200, answer.text
    return media_id, await finalize(client, media_id)


async def upload_file(
    client: httpx.AsyncClient, path: Path, category: str | None, **kwargs: Any
) -> tuple[str, httpx.Response]:
    return await upload_bytes(client, path.read_bytes(), category, **kwargs)


async def wait_processed(
    client: httpx.AsyncClient, media_id: str, sleep: Any, limit: int = 200
) -> list[dict[str, Any]]:
    """Poll STATUS as a polite client does; returns every `data` object seen."""
    seen: list[dict[str, Any]] = []
    for _ in range(limit):
        answer = await status(client, media_id)
        assert answer.status_code == 200, answer.text
        data = answer.json()["data"]
        seen.append(data)
        info = data["processing_info"]
        if info["state"] in ("succeeded", "failed"):
            return seen
        await sleep(info["check_after_secs"])
    raise AssertionError("processing never ended")
