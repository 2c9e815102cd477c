"""Hostile feed documents: CPU time and peak memory of `process.parse_and_prepare` (parsing,
sanitising, preparing records) on worst cases near the 15 MiB body cap, one fresh process per
case so each peak is its own.

Cases: one entry of 3.9 million `<x/>`, 5 million unclosed `<p>`, 5 million unclosed `<x>`,
3 million `&amp;` in a description of an entry without a link, 200,000 items, 1,700 entries of
CDATA HTML (600 tags each), a one-line document with 800,000 `encoding="punycode"`, start tags
of 60 attributes, a JSON Feed of 15,000 items, and the quadratic entity blowup (6 MB: one
1,000-character entity referenced two million times). Prints a table and one JSON line.

    .venv/bin/python benchmarks/hostile_parse.py [--feedparser] [--case NAME]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from collections.abc import Callable

MB = 15 * 1024 * 1024


def _rss(items: str, head: str = "") -> bytes:
    return (
        f'<?xml version="1.0"?>{head}<rss version="2.0"><channel><title>x</title>{items}'
        "</channel></rss>"
    ).encode()


TEN = "".join(f"<item><title>T{i}</title><link>http://x.test/{i}</link></item>" for i in range(10))
CASES: dict[str, Callable[[], bytes]] = {
    "tags": lambda: _rss(TEN + "<item><title>b</title>" + "<x/>" * (MB // 4) + "</item>"),
    "unclosed p": lambda: _rss(
        TEN + "<item><title>b</title><description>" + "<p>" * (MB // 3) + "</description></item>"
    ),
    "unclosed x": lambda: _rss(TEN + "<item><title>b</title>" + "<x>" * (MB // 3)),
    "ampersands": lambda: _rss(
        TEN + "<item><title>b</title><description>" + "&amp;" * (MB // 5) + "</description></item>"
    ),
    "200k items": lambda: _rss(
        "".join(
            f"<item><title>T{i}</title><link>http://x.test/{i}</link></item>"
            for i in range(200_000)
        )
    ),
    "cdata html": lambda: _rss(
        "".join(
            f"<item><title>T{i}</title><link>http://x.test/{i}</link><description><![CDATA["
            + "<p>a <a href='/x'>b</a> <b>c</b></p>" * 200
            + "]]></description></item>"
            for i in range(1700)
        )
    ),
    "one-line labels": lambda: (
        b'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>x</title>'
        b"<item><title>t</title><description>"
        + b'encoding="punycode" ' * (MB // 20)
        + b"</description></item></channel></rss>"
    ),
    "60 attributes": lambda: _rss(
        TEN
        + "<item><title>b</title>"
        + ("<x " + " ".join(f'a{i}="v"' for i in range(60)) + "/>") * (MB // 500)
        + "</item>"
    ),
    "json feed": lambda: json.dumps(
        {
            "version": "https://jsonfeed.org/version/1.1",
            "items": [
                {"id": str(i), "title": "t" * 100, "content_html": "<p>x</p>" * 100}
                for i in range(15_000)
            ],
        }
    ).encode(),
    "entity blowup": lambda: _rss(
        "<item><title>t</title><description>" + "&e;" * 2_000_000 + "</description></item>",
        head='\n<!DOCTYPE rss [\n<!ENTITY e "' + "x" * 1000 + '">\n]>\n',
    ),
}


def run_case(name: str, *, feedparser: bool = False) -> dict[str, object]:
    from aggregator.errors import AggregatorError
    from aggregator.parse import parse_feed
    from aggregator.process import Prepared, parse_and_prepare, prepare_entry

    body = CASES[name]()
    started = time.process_time()
    if feedparser:  # fastparse off: every XML document through feedparser
        try:
            feed = parse_feed(body, url="http://x.test/feed", fast=False)
            records = tuple(prepare_entry(e, base="http://x.test/feed") for e in feed.entries)
            prepared = Prepared(feed=feed, records=records)
        except AggregatorError as exc:
            prepared = Prepared(feed=None, error=str(exc))
    else:
        prepared = parse_and_prepare(body, "http://x.test/feed", "application/rss+xml")
    cpu = time.process_time() - started
    return {
        "case": name,
        "mb": round(len(body) / 1e6, 1),
        "cpu_s": round(cpu, 2),
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
        "records": len(prepared.records),
        "note": (prepared.error or "; ".join(prepared.feed.warnings if prepared.feed else ""))[
            :70
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--case", choices=sorted(CASES), help="run one case in this process")
    parser.add_argument("--feedparser", action="store_true", help="with fastparse switched off")
    args = parser.parse_args()
    if args.case:
        print(json.dumps(run_case(args.case, feedparser=args.feedparser)))
        return
    results = []
    for name in CASES:
        command = [sys.executable, __file__, "--case", name]
        out = subprocess.run(
            command + (["--feedparser"] if args.feedparser else []),
            capture_output=True,
            text=True,
            check=True,
        )
        result = json.loads(out.stdout.strip().splitlines()[-1])
        results.append(result)
        print(
            f"{result['case']:16} {result['mb']:5} MB  cpu {result['cpu_s']:6} s  "
            f"peak {result['peak_mb']:4} MB  records {result['records']:6}  {result['note']}",
            flush=True,
        )
    print(json.dumps(results))


if __name__ == "__main__":
    main()
