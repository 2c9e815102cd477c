"""Generated arguments through the real command line: whatever a person (or a script) passes,
every command answers with its result or a one-line error and an exit status, never a Python
traceback. Arguments include what a shell can hand over on Linux: any text, and bytes that are
not UTF-8 (Python gives them to us as lone surrogates, U+DC80-U+DCFF)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aggregator.cli import cli

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"

# Any text a shell can pass: no NUL (argv cannot hold one), lone surrogates only in the range
# undecodable bytes take.
_CHAR = st.characters(
    blacklist_categories=("Cs",), blacklist_characters="\x00"
) | st.sampled_from([chr(0xDC80 + i) for i in (0, 0x3F, 0x7F)])
TEXT = st.text(_CHAR, max_size=60) | st.sampled_from(
    [
        "",
        " ",
        '"',
        '"unclosed phrase',
        "-",
        "--",
        "*",
        "a*",
        "ab*",
        "tou*",
        "OR",
        "word OR",
        "NEAR(a b)",
        "^title",
        "title:x",
        "{a b}",
        "tag:",
        "tag:\"x y\"",
        "feed:",
        "site:",
        "site:..",
        "-tag:x",
        "x" * 5000,
        "é" * 300,
        "http://",
        "https://example.org/\udcff",
        "javascript:alert(1)",
        "2024-13-45",
        "9999999999-01-01",
        "-1",
        "0",
        "1e999",
    ]
)
DATE = TEXT | st.dates().map(str) | st.integers(-(10**12), 10**12).map(str)


@pytest.fixture(scope="module")
def sample_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("cli-properties") / "aggregator.db"
    result = CliRunner().invoke(cli, ["--db", str(db), "load-sample", str(SAMPLE)])
    assert result.exit_code == 0, result.output
    return db


def _commands(draw: st.DrawFn) -> list[str]:
    kind = draw(
        st.sampled_from(
            ["search", "export", "tag", "highlight", "highlights", "state", "save", "feeds",
             "pause"]
        )
    )
    if kind == "search":
        args = ["search", draw(TEXT)]
        for option in draw(st.lists(st.sampled_from(["--tag", "--feed", "--limit"]), max_size=3)):
            args += [option, draw(TEXT)]
        args += draw(st.sampled_from([[], ["--sort", "newest"], ["--format", "json"]]))
        return args
    if kind == "export":
        args = ["export", "--format", draw(st.sampled_from(
            ["json", "csv", "md", "html", "opml", "atom", "netscape"]))]
        for option in draw(st.lists(
            st.sampled_from(["--tag", "--query", "--feed", "--since", "--until"]), max_size=3
        )):
            args += [option, draw(DATE if option in ("--since", "--until") else TEXT)]
        return args
    if kind == "tag":
        return ["tag", draw(TEXT), "--add", draw(TEXT), "--remove", draw(TEXT)]
    if kind == "highlight":
        return ["highlight", draw(TEXT), "--quote", draw(TEXT), "--note", draw(TEXT)]
    if kind == "highlights":
        return ["highlights", "--tag", draw(TEXT), "--url", draw(TEXT)]
    if kind == "state":
        verb = draw(st.sampled_from(["read", "unread", "star", "unstar", "archive"]))
        return [verb, *draw(st.lists(TEXT, min_size=1, max_size=3))]
    if kind == "save":
        return ["save", draw(TEXT), "--tag", draw(TEXT), "--note", draw(TEXT),
                "--title", draw(TEXT)]
    if kind == "feeds":
        return ["feeds", *draw(st.sampled_from([[], ["--format", "json"]]))]
    return [draw(st.sampled_from(["pause", "resume", "unsubscribe"])), draw(TEXT)]


@settings(
    max_examples=int(os.environ.get("CLI_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.composite(_commands)())
def test_generated_arguments_give_a_result_or_one_line_never_a_traceback(
    sample_db: Path, args: list[str]
) -> None:
    result = CliRunner().invoke(cli, ["--db", str(sample_db), *args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"{args!r} raised {result.exception!r}") from result.exception
    assert result.exit_code in (0, 1, 2), (args, result.exit_code, result.output)
    assert "Traceback" not in result.output
    if result.exit_code == 1:
        errors = [line for line in result.output.splitlines() if line.startswith("Error")]
        assert errors and all(len(line) < 2000 for line in errors), (args, result.output)


def test_latin1_bytes_from_a_terminal_are_read_as_text(sample_db: Path) -> None:
    """`aggregator search café` typed on a Latin-1 terminal: the é arrives as the byte 0xE9,
    which is not UTF-8 (Python hands it on as U+DCE9); it is read as the é it was meant to be."""
    typed = "caf\udce9"
    latin1 = CliRunner().invoke(cli, ["--db", str(sample_db), "search", typed])
    utf8 = CliRunner().invoke(cli, ["--db", str(sample_db), "search", "café"])
    assert latin1.exit_code == 0 and latin1.output == utf8.output
    assert "rain-days-are-part-of-the-trip" in latin1.output


def test_an_error_quoting_a_huge_argument_stays_one_short_line(sample_db: Path) -> None:
    result = CliRunner().invoke(cli, ["--db", str(sample_db), "pause", "x" * 100_000])
    assert result.exit_code == 1
    (line,) = result.output.splitlines()
    assert line.startswith("Error: not subscribed: xxx") and len(line) <= 600


def test_a_port_out_of_range_is_a_usage_error(sample_db: Path) -> None:
    """uvicorn raised OverflowError from bind() for port 99999, after the server had started."""
    result = CliRunner().invoke(cli, ["--db", str(sample_db), "serve", "--port", "99999"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "'--port': 99999 is not in the range 0<=x<=65535" in result.output


@pytest.mark.parametrize("value", ["inf", "nan", "-5", "0", "abc", "1e400", "3601"])
def test_a_deadline_that_is_not_a_number_of_seconds_is_refused(
    sample_db: Path, value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`inf` (or 1e400) gave requests no deadline at all, `nan` silently one second."""
    monkeypatch.setenv("AGGREGATOR_DEADLINE", value)
    result = CliRunner().invoke(cli, ["--db", str(sample_db), "fetch"])
    assert result.exit_code == 1
    assert result.output == "Error: AGGREGATOR_DEADLINE must be a number of seconds up to 3600\n"
