"""The ``citeqa`` command: parse, call the pipeline, format. Errors become messages and exit codes."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from citeqa.app.progress import progress_bars
from citeqa.app.term import name, tolerant_io
from citeqa.config import Settings, access_token, load_settings
from citeqa.errors import CiteqaError, InputError
from citeqa.index.layout import read_manifest
from citeqa.models import TENTATIVE, Answer

EXIT_INTERNAL = 70
EXIT_OS = 74  # sysexits EX_IOERR: an operating-system error such as a full disk


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--corpus", type=Path, help="folder of documents (default: corpus/)")
    p.add_argument("--index", type=Path, help="index folder (default: index/)")
    p.add_argument("--model", help="sentence-transformers model name or path "
                   "(default: bundled:citeqa-minilm-qa, citeqa's reading model; bundled:all-MiniLM-L6-v2 is its base)")
    p.add_argument("--file-timeout", type=float, metavar="SECONDS",
                   help="skip a PDF, Word or HTML file still being read after this long when indexing (default 120; "
                        "0: no limit)")


def _engine(p: argparse.ArgumentParser) -> None:
    p.add_argument("--engine", choices=("local", "ray"), default="local",
                   help="where the work runs: this process (default) or a Ray cluster (pip install 'citeqa[ray]')")
    p.add_argument("--address", help="the Ray cluster to join (e.g. 10.0.0.5:6379, or auto); default: start one here")


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="citeqa", description="Ask questions of your documents; answers are cited quotes."
    )
    sub = ap.add_subparsers(dest="command", required=True)
    p = sub.add_parser("index", help="build or refresh the index of the corpus folder")
    _common(p)
    _engine(p)
    p.add_argument("--shards", type=int, help="write the index in N shards (default: as it is now; 1 when new)")
    p = sub.add_parser("ask", help="answer a question (or, with --json and no question, one per stdin line)")
    p.add_argument("question", nargs="?", help="the question")
    _common(p)
    p.add_argument("-k", type=int, help="number of passages to retrieve (default 5)")
    p.add_argument("--mode", choices=("hybrid", "dense", "bm25"), help="retrieval mode (default hybrid)")
    p.add_argument("--min-confidence", type=float, help="abstain below this confidence (0 = never abstain)")
    p.add_argument("--json", action="store_true", help="print the JSON object")
    p = sub.add_parser("eval", help="score a gold set (JSONL) or a SQuAD 2.0 file (--squad)")
    p.add_argument("gold", type=Path, nargs="?", help="gold JSONL file")
    p.add_argument("--squad", type=Path, help="SQuAD 2.0 JSON file: one corpus per article, one document per paragraph")
    p.add_argument(
        "--work", type=Path, default=Path(".bench/squad"), help="where --squad keeps article corpora and indexes"
    )
    _common(p)
    p.add_argument("-k", type=int, default=5)
    p.add_argument("--mode", choices=("hybrid", "dense", "bm25"))
    p.add_argument("--min-confidence", type=float)
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    p = sub.add_parser("serve", help="start the chat app")
    _common(p)
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=7860)
    p.add_argument("--share", action="store_true", help="also open a public Gradio share link (chat app only)")
    p.add_argument("--api-only", action="store_true", help="serve the REST API without the chat app")
    p.add_argument("--allowed-host", action="append", default=[], metavar="NAME",
                   help="a host name clients use to reach the server (repeatable; '*': any); loopback always works")
    p.add_argument("--token", help="require this access token (default: $CITEQA_TOKEN; REST: Authorization: Bearer)")
    _engine(p)
    p.add_argument("--replicas", type=int, default=2, help="with --engine ray: REST API replicas (default 2)")
    p = sub.add_parser("mcp", help="serve the Model Context Protocol over stdio (tools ask, search, read)")
    _common(p)
    return ap


def current_shards(settings: Settings) -> int:
    """How many shards the index in ``settings.index_dir`` is written in (1 when unsharded or missing)."""
    return int((read_manifest(settings.index_dir) or {}).get("shards", 1))


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(corpus_dir=args.corpus, index_dir=args.index, model=args.model,
                         file_timeout_s=args.file_timeout)


def cmd_index(args: argparse.Namespace) -> int:
    from citeqa.qa import QA

    if args.shards is not None and not 1 <= args.shards <= 1024:
        raise InputError("--shards must be between 1 and 1024")
    settings = (base := _settings(args)).with_(shards=args.shards or current_shards(base))
    if args.engine == "ray":
        from citeqa.cluster.build import build_on_ray

        report = build_on_ray(settings, args.address, progress_bars())
    else:
        if args.address:
            raise InputError("--address is for --engine ray")
        report = QA(settings).build(progress_bars())
    for path, reason in report.skipped:
        print(f"warning: skipped {name(path)}: {name(reason)}", file=sys.stderr)
    if report.up_to_date:
        print(f"index is up to date: {report.documents} documents, {report.chunks} chunks ({report.seconds:.2f} s)")
    else:
        how = f"; updated for {report.changed} changed file(s)" if report.incremental else ""
        print(f"indexed {report.documents} documents into {report.chunks} chunks and {report.sentences} sentences "
              f"({report.embedded} embedded, {report.reused} reused, {report.index_type}{how}) "
              f"in {report.seconds:.1f} s")
    if report.shards > 1:
        print(f"in {report.shards} shards")
    if report.nodes:
        print(f"work ran on {len(report.nodes)} node(s): {', '.join(report.nodes)}")
    return 0


def format_answer(ans: Answer, lines_of: dict[str, str]) -> str:
    """Human-readable answer with [n] markers and sources."""
    out: list[str] = []
    if ans.status == TENTATIVE:
        out.append("Possible answer (low confidence):")
    elif ans.abstained:
        out.append(f"The documents don't say. (confidence {ans.confidence:.2f})")
        if ans.passages:
            out.append("\nClosest passages:")
            for p in ans.passages[:3]:
                page = f" — p. {p.page}" if p.page else ""
                out.append(f"  - {p.chunk.doc} — {p.chunk.section or '(no section)'}{page}: {_short(p.chunk.text)}")
        return "\n".join(out)
    text = ans.answer or ""
    pieces, pos = [], 0
    for c in ans.citations:  # the answer is the quotes joined by single spaces
        quote = text[pos : pos + len(c.quote)]
        s = ans.answer_span
        if s and pos <= s.start and s.end <= pos + len(quote):
            a, b = s.start - pos, s.end - pos
            quote = f"{quote[:a]}**{quote[a:b]}**{quote[b:]}"
        pieces.append(f"{quote} [{c.n}]")
        pos += len(c.quote) + 1
    out.append(" ".join(pieces))
    low = ": below the threshold, check the source" if ans.status == TENTATIVE else ""
    out.append(f"(confidence {ans.confidence:.2f}{low})\n\nSources:")
    for c in ans.citations:
        doc = lines_of.get(c.doc, "")
        a, b = doc.count("\n", 0, c.start) + 1, doc.count("\n", 0, c.end) + 1
        where = f"p. {c.page}" if c.page else f"line {a}" if a == b else f"lines {a}–{b}"
        out.append(f"[{c.n}] {c.doc} — {c.section or '(no section)'} — {where}, characters {c.start}–{c.end}")
        out.append("    " + c.quote.replace("\n", "\n    "))
    return "\n".join(out)


def _short(text: str, n: int = 160) -> str:
    t = " ".join(text.split())
    return t if len(t) <= n else t[: n - 1] + "…"


def _json(obj: object) -> str:
    """One JSON line; pure ASCII (``\\u`` escapes) when stdout cannot encode all of Unicode."""
    encoding = (getattr(sys.stdout, "encoding", None) or "utf-8").lower().replace("-", "").replace("_", "")
    return json.dumps(obj, ensure_ascii=not encoding.startswith("utf"))


def cmd_ask(args: argparse.Namespace) -> int:
    from citeqa.qa import QA, clean_question

    settings = _settings(args)
    if not args.json and args.question is None:
        raise CiteqaError("give a question, or use --json to read questions from standard input")
    qa = QA(settings)
    if args.question is not None:
        clean_question(args.question)  # refuse a bad question or option before building an index
    qa.options(args.k, args.mode, args.min_confidence)
    built = qa.ensure_index(progress_bars())
    if built:
        for path, reason in built.skipped:
            print(f"warning: skipped {name(path)}: {name(reason)}", file=sys.stderr)
    stale = qa.stale_files()
    if stale:
        print(f"warning: the index is stale ({len(stale)} file(s) changed since it was built, e.g. {name(stale[0])}); "
              "run `citeqa index` to refresh it", file=sys.stderr)
    opts = {"k": args.k, "mode": args.mode, "min_confidence": args.min_confidence}
    if args.question is not None:
        ans = qa.ask(args.question, **opts)
        if args.json:
            print(_json(ans.to_dict()))
        else:
            docs = {c.doc: (qa.document(c.doc).text if qa.document(c.doc) else "") for c in ans.citations}
            print(format_answer(ans, docs))
        return 0
    failures = 0
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            print(_json(qa.ask(line.rstrip("\n"), **opts).to_dict()), flush=True)
        except CiteqaError as exc:
            failures += 1
            print(_json({"question": line.rstrip("\n"), "error": str(exc)}), flush=True)
    return 1 if failures else 0


def cmd_eval(args: argparse.Namespace) -> int:
    from citeqa.eval.evaluate import evaluate, load_gold
    from citeqa.qa import QA

    if args.squad:
        return _eval_squad(args)
    if args.gold is None:
        raise CiteqaError("give a gold JSONL file, or --squad FILE")
    items = load_gold(args.gold)
    qa = QA(_settings(args))
    qa.ensure_index(progress_bars())
    report, _ = evaluate(qa, items, k=args.k, mode=args.mode, min_confidence=args.min_confidence)
    if args.json:
        print(json.dumps(report.__dict__, default=str))
    else:
        print("\n".join(report.lines()))
    return 0


def _eval_squad(args: argparse.Namespace) -> int:
    from citeqa.answer.calibration import calibration_path, load_calibration
    from citeqa.encode.embedder import make_embedder
    from citeqa.eval.squad import format_table, load_squad, report, run_squad

    settings = _settings(args)
    articles = load_squad(args.squad)
    threshold = args.min_confidence if args.min_confidence is not None else load_calibration(
        calibration_path(settings.model)).threshold
    results = run_squad(articles, args.work, make_embedder(settings.model), settings, k=args.k, mode=args.mode,
                        on_article=lambda title: print(f"indexed {title}", file=sys.stderr))
    reports = [report(a.title, [r for r in results if r.article == a.title], threshold) for a in articles]
    reports.append(report("total", results, threshold))
    if args.json:
        print(json.dumps([r.__dict__ for r in reports]))
    else:
        print(f"min confidence {threshold}\n" + format_table(reports))
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from citeqa.app.server import serve

    if args.share and args.api_only:
        raise InputError("--share and --api-only do not go together: --share serves the chat app only")
    if args.engine == "ray":
        from citeqa.app.rayserve import serve_on_ray

        if args.share:
            raise InputError("--share is for the local engine")
        if not 1 <= args.replicas <= 256:
            raise InputError("--replicas must be between 1 and 256")
        if args.token or access_token() or args.allowed_host:  # Ray Serve's proxy would not enforce them
            raise InputError("--token, CITEQA_TOKEN and --allowed-host are for the local engine: with --engine ray "
                             "serve on loopback behind a reverse proxy that authenticates")
        return serve_on_ray(_settings(args), args.address, args.host, args.port, args.replicas)
    if args.address:
        raise InputError("--address is for --engine ray")
    return serve(_settings(args), host=args.host, port=args.port, share=args.share, api_only=args.api_only,
                 allowed=args.allowed_host, token=args.token or access_token())


def cmd_mcp(args: argparse.Namespace) -> int:
    from citeqa.app.mcp import serve_stdio

    return serve_stdio(_settings(args))


def main(argv: Sequence[str] | None = None) -> int:
    tolerant_io()
    args = parser().parse_args(argv)
    handler = {"index": cmd_index, "ask": cmd_ask, "eval": cmd_eval, "serve": cmd_serve, "mcp": cmd_mcp}[args.command]
    try:
        return handler(args)
    except CiteqaError as exc:
        print(f"citeqa: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("citeqa: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except OSError as exc:  # the machine said no (disk full, read-only, permissions): say what and where
        where = f": {exc.filename}" if exc.filename else ""
        print(f"citeqa: error: {exc.strerror or exc}{where}", file=sys.stderr)
        return EXIT_OS
    except Exception as exc:
        print(f"citeqa: internal error: {type(exc).__name__}: {exc}. Please report this.", file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
