"""`citeqa mcp` as an agent sees it: a real subprocess driven by the MCP SDK's own stdio client."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

from citeqa.config import Settings
from pdfs import GUIDE_OUTLINE, GUIDE_PAGES, pages_pdf

IOT_Q = "When was the EU-China IoT Advisory Group established?"


def _params(settings: Settings) -> StdioServerParameters:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITEQA_")}
    env.update(HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    return StdioServerParameters(
        command=sys.executable,
        args=["-m", "citeqa.app.cli", "mcp", "--corpus", str(settings.corpus_dir), "--index",
              str(settings.index_dir), "--model", "hash"],
        env=env,
    )


def _payload(result: Any) -> dict:
    """A tool result's structured content (or its JSON text)."""
    if result.structured_content is not None:
        return result.structured_content
    return json.loads(result.content[0].text)


async def _session(settings: Settings, calls: list[tuple[str, dict]]) -> tuple[list[str], list[Any]]:
    async with stdio_client(_params(settings)) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        tools = sorted(t.name for t in (await session.list_tools()).tools)
        results = [await asyncio.wait_for(session.call_tool(name, args), 60) for name, args in calls]
        return tools, results


def run(settings: Settings, calls: list[tuple[str, dict]]) -> tuple[list[str], list[Any]]:
    return asyncio.run(asyncio.wait_for(_session(settings, calls), 180))


def test_tools_answer_search_and_read_with_verbatim_citations(fake_settings: Settings) -> None:
    tools, (ask, search, read, sliced) = run(fake_settings, [
        ("ask", {"question": IOT_Q}),
        ("search", {"query": "IoT Advisory Group", "k": 3}),
        ("read", {"doc": "eu_china_expert_groups.txt"}),
        ("read", {"doc": "eu_china_expert_groups.txt", "start": 10, "end": 40}),
    ])
    assert tools == ["ask", "read", "search"]
    assert not ask.is_error and not search.is_error and not read.is_error
    answer = _payload(ask)
    assert answer["status"] in ("answered", "tentative") and "February 2011" in answer["answer"]
    text = (fake_settings.corpus_dir / "eu_china_expert_groups.txt").read_text(encoding="utf-8")
    for c in answer["citations"]:
        assert text[c["start"] : c["end"]] == c["quote"] and c["page"] is None
        assert set(c) >= {"doc", "section", "page", "start", "end", "quote"}
    passages = _payload(search)["passages"]
    assert len(passages) == 3 and all(text[p["start"] : p["end"]] == p["text"] for p in passages)
    assert _payload(read)["text"] == text
    assert _payload(sliced) == {"doc": "eu_china_expert_groups.txt", "start": 10, "end": 40, "text": text[10:40],
                                "page": None}


def test_problems_are_tool_errors_with_the_message(fake_settings: Settings) -> None:
    _, (empty, unknown, outside, refused) = run(fake_settings, [
        ("ask", {"question": "   "}),
        ("read", {"doc": "nope.txt"}),
        ("read", {"doc": "eu_china_expert_groups.txt", "start": 5, "end": 10**9}),
        ("ask", {"question": "What is the capital of Australia?"}),
    ])
    assert empty.is_error and "empty" in empty.content[0].text.lower()
    assert unknown.is_error and "no document 'nope.txt'" in unknown.content[0].text
    assert "eu_china_expert_groups.txt" in unknown.content[0].text, "the message lists the documents"
    assert outside.is_error and "0 <= start <= end <=" in outside.content[0].text
    assert not refused.is_error and _payload(refused)["status"] == "abstained"
    assert _payload(refused)["answer"] is None and _payload(refused)["citations"] == []


def test_pdf_citations_carry_their_page(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "guide.pdf").write_bytes(pages_pdf(GUIDE_PAGES, GUIDE_OUTLINE))
    settings = Settings(corpus_dir=corpus, index_dir=tmp_path / "index", model="hash")
    _, (ask, read) = run(settings, [("ask", {"question": "Who kept the light from 1931 to 1960?"}),
                                    ("read", {"doc": "guide.pdf", "start": 0, "end": 10})])
    cites = _payload(ask)["citations"]
    assert cites and cites[0]["doc"] == "guide.pdf" and cites[0]["page"] == 3
    assert _payload(read)["page"] == 1


def test_a_lone_surrogate_gets_a_tool_error_not_silence(fake_settings: Settings) -> None:
    """Raw JSON-RPC lines (the SDK's client cannot even send a lone surrogate): every request is answered."""
    import subprocess

    p = _params(fake_settings)
    proc = subprocess.Popen([p.command, *p.args], env=p.env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL)
    lines = [
        {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-06-18",
         "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}}},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "search", "arguments": {"query": "X"}}},
        {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "ask", "arguments": {"question": "X"}}},
        {"jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": {"name": "read", "arguments": {"doc": "X"}}},
    ]
    raw = "".join(json.dumps(m).replace('"X"', '"broadband \\ud800"') + "\n" for m in lines)
    try:
        out, _ = proc.communicate(raw.encode(), timeout=120)  # stdin closes after the lines: the server ends
    finally:
        proc.kill()
    replies = {m.get("id"): m for m in map(json.loads, out.decode().splitlines()) if "id" in m}
    for rid in (2, 3, 4):
        result = replies[rid]["result"]
        assert result["isError"] and "lone surrogate" in result["content"][0]["text"], replies[rid]


def test_mcp_starts_while_a_build_holds_the_lock(fake_settings: Settings) -> None:
    import fcntl

    from citeqa.qa import QA

    QA(fake_settings).build()
    with open(fake_settings.index_dir / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # as a running `citeqa index` holds it
        _, (got,) = run(fake_settings, [("ask", {"question": IOT_Q})])
    assert not got.is_error and "February 2011" in _payload(got)["answer"]
