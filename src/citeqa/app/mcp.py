"""``citeqa mcp``: a Model Context Protocol server over stdio, for agents that must cite what they say.

Tools (the official ``mcp`` Python SDK, :class:`mcp.server.mcpserver.MCPServer`):

``ask(question, k?)``
    the answer, its status (answered / tentative / abstained), confidence and citations: document, section,
    page where known, start, end and the verbatim quote (``document[start:end] == quote``);
``search(query, k?)``
    the best passages, with their offsets;
``read(doc, start?, end?)``
    a document's text, or a slice of it (to check a citation in context).

A problem (an empty question, an unknown document, a range outside the text) is a tool error with the message;
stdout carries only the protocol (the index build reports on stderr). A request holding a lone surrogate, which
the SDK would drop without a reply, is answered with an error here.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import anyio
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

from citeqa import __version__
from citeqa.app.progress import progress_bars
from citeqa.app.term import name
from citeqa.config import Settings
from citeqa.errors import CiteqaError
from citeqa.models import passage_dict
from citeqa.qa import QA, has_lone_surrogate, refuse_lone_surrogates

INSTRUCTIONS = (
    "citeqa answers questions about a folder of documents with verbatim quotes. Every citation has the "
    "document, section, page (PDFs), character offsets and the quote: quote it as given, and use `read` to check "
    "it in context. A 'tentative' answer is the closest sentence below the confidence threshold; 'abstained' "
    "means the documents do not answer the question."
)


def build_server(qa: QA) -> MCPServer:
    """The MCP server's tools over ``qa``."""
    server = MCPServer("citeqa", version=__version__, instructions=INSTRUCTIONS)

    def guarded(fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except CiteqaError as exc:
            raise ToolError(str(exc)) from None

    @server.tool(description="Answer a question from the documents with cited verbatim quotes.")
    def ask(question: str, k: int | None = None) -> dict[str, Any]:
        guarded(refuse_lone_surrogates, "the question", question)
        ans = guarded(qa.ask, question, k=k)
        d = ans.to_dict()
        return {key: d[key] for key in ("question", "answer", "status", "abstained", "confidence", "answer_span",
                                        "citations")}

    @server.tool(description="The passages of the documents that best match a query, with their offsets.")
    def search(query: str, k: int | None = None) -> dict[str, Any]:
        guarded(refuse_lone_surrogates, "the query", query)
        passages = guarded(qa.search, query, k=k)
        return {"query": query, "passages": [passage_dict(p) for p in passages]}

    @server.tool(description="A document's text, or its characters [start, end) (offsets as in citations).")
    def read(doc: str, start: int | None = None, end: int | None = None) -> dict[str, Any]:
        guarded(refuse_lone_surrogates, "the document name", doc)
        found = guarded(qa.document, doc)
        if found is None:
            names = ", ".join(p for p, _, _ in guarded(qa.documents)[:20])
            raise ToolError(f"no document {doc!r} in the index (documents: {names})")
        a = 0 if start is None else start
        b = len(found.text) if end is None else end
        if not 0 <= a <= b <= len(found.text):
            raise ToolError(f"start and end must satisfy 0 <= start <= end <= {len(found.text)}")
        return {"doc": found.path, "start": a, "end": b, "text": found.text[a:b],
                "page": found.page_at(a)}

    return server


def serve_stdio(settings: Settings) -> int:
    """Build the index if it is missing or stale (reporting on stderr), then serve MCP on stdin/stdout."""
    qa = QA(settings)
    report, why = qa.build_or_serve_current(progress_bars())
    if report is None:
        print(f"warning: {why}", file=sys.stderr)
    else:
        for path, reason in report.skipped:
            print(f"warning: skipped {name(path)}: {name(reason)}", file=sys.stderr)
        print(f"citeqa mcp: {report.documents} documents, {report.chunks} passages", file=sys.stderr)
    print("citeqa mcp: serving on stdio", file=sys.stderr)
    anyio.run(_serve_filtered, build_server(qa))
    return 0


def lone_surrogate_reply(line: str) -> str | None:
    """The reply to a JSON-RPC request whose text holds a lone surrogate (the SDK drops such a line without a word,
    and the agent waits forever), or ``None`` for a line to pass on. A ``tools/call`` gets a tool error."""
    try:
        msg = json.loads(line)
    except ValueError:
        return None
    if not isinstance(msg, dict) or "id" not in msg or not has_lone_surrogate(msg):
        return None
    text = "the request holds a lone surrogate (an unpaired \\ud800-\\udfff escape): send valid Unicode text"
    if msg.get("method") == "tools/call":
        reply = {"jsonrpc": "2.0", "id": msg["id"],
                 "result": {"content": [{"type": "text", "text": text}], "isError": True}}
    else:
        reply = {"jsonrpc": "2.0", "id": msg["id"], "error": {"code": -32602, "message": text}}
    return json.dumps(reply, ensure_ascii=True)


async def _serve_filtered(server: MCPServer) -> None:
    """``server`` on stdio, with lines holding lone surrogates answered here instead of passed to the SDK."""
    from io import TextIOWrapper

    from mcp.server.stdio import stdio_server

    stdin = anyio.wrap_file(TextIOWrapper(sys.stdin.buffer, encoding="utf-8", errors="replace"))
    stdout = anyio.wrap_file(TextIOWrapper(sys.stdout.buffer, encoding="utf-8"))

    class Filtered:
        def __aiter__(self) -> Any:
            return self.lines()

        async def lines(self) -> Any:
            async for line in stdin:
                reply = lone_surrogate_reply(line)
                if reply is None:
                    yield line
                else:
                    await stdout.write(reply + "\n")
                    await stdout.flush()

    lowlevel = server._lowlevel_server  # what MCPServer.run_stdio_async does, with our streams
    async with stdio_server(stdin=Filtered(), stdout=stdout) as (read, write):  # type: ignore[arg-type]
        await lowlevel.run(read, write, lowlevel.create_initialization_options())
