"""Annotations of an answer's text (`workers.runs.tools.annotations`) from recorded tool calls.

`annotate` reads the run's tool_calls steps through `conn.execute(...).fetchall()`; here a
recorded connection replays step rows shaped as file_search and code_interpreter write them
(the SQL itself runs against Postgres in tests/integration/workers/runs/tools/).
"""
from dataclasses import dataclass, field
from typing import Any, cast

import pytest

from shared.storage.db import Conn
from workers.runs.tools.annotations import annotate, needed
from workers.runs.tools.file_search import marker

RUN_ID = "run_" + "r" * 24


@dataclass
class Recorded:
    """A connection that answers every query with the same recorded rows."""
    rows: list[dict[str, Any]]
    queries: list[tuple[str, Any]] = field(default_factory=list)

    def execute(self, query: str, params: Any = None) -> "Recorded":
        self.queries.append((query, params))
        return self

    def fetchall(self) -> list[dict[str, Any]]:
        return self.rows


def step(*calls: dict[str, Any]) -> dict[str, Any]:
    return {"step_details": {"type": "tool_calls", "tool_calls": list(calls)}}


def search(search_number: int | None, *file_ids: str) -> dict[str, Any]:
    """A file_search call as recorded; no number when the search itself failed."""
    call: dict[str, Any] = {
        "id": f"call_s{search_number}", "type": "file_search", "file_search": {
            "ranking_options": {"ranker": "default_2024_08_21", "score_threshold": 0.0},
            "results": [{"file_id": f, "file_name": f"{f}.pdf", "score": 0.5,
                         "_content": [{"type": "text", "text": "..."}]} for f in file_ids]},
        "_arguments": '{"query": "q"}', "_output": "Results for 'q'.",
    }
    if search_number is not None:
        call["_search"] = search_number
    return call


def code(files: dict[str, str]) -> dict[str, Any]:
    return {"id": "call_code", "type": "code_interpreter",
            "code_interpreter": {"input": "...", "outputs": []},
            "_files": files, "_arguments": "{}", "_output": "(no output)"}


def function() -> dict[str, Any]:
    return {"id": "call_fn", "type": "function",
            "function": {"name": "lookup", "arguments": "{}", "output": "42"}}


def annotations_of(text: str, *rows: dict[str, Any]) -> list[dict[str, Any]]:
    return annotate(cast(Conn, Recorded(list(rows))), RUN_ID, text)


def citation(text: str, found: str, file_id: str, after: int = 0) -> dict[str, Any]:
    start = text.index(found, after)
    return {"type": "file_citation", "text": found, "start_index": start,
            "end_index": start + len(found), "file_citation": {"file_id": file_id}}


def file_path(text: str, found: str, file_id: str) -> dict[str, Any]:
    start = text.index(found)
    return {"type": "file_path", "text": found, "start_index": start,
            "end_index": start + len(found), "file_path": {"file_id": file_id}}


def test_needed() -> None:
    assert not needed("No sources here.")
    assert needed("Revenue grew【0:0†report.pdf】.")
    assert needed("Download sandbox:/mnt/data/out.csv")
    assert not needed("A path like /mnt/data/out.csv without the scheme.")


def test_plain_text_reads_nothing() -> None:
    conn = Recorded([step(search(0, "file-a"))])
    assert annotate(cast(Conn, conn), RUN_ID, "Nothing to annotate.") == []
    assert conn.queries == []


def test_the_runs_calls_are_read() -> None:
    conn = Recorded([])
    assert annotate(cast(Conn, conn), RUN_ID, "A marker【0:0†a.pdf】 of nothing.") == []
    [(_, params)] = conn.queries
    assert params == (RUN_ID,)


def test_citations_map_to_the_files_of_earlier_searches() -> None:
    first, second = marker(0, 1, "report.pdf"), marker(1, 0, "costs.csv")
    text = f"Revenue grew 12%{first} while costs fell{second}."
    found = annotations_of(text, step(search(0, "file-a", "file-b")),
                           step(function(), search(1, "file-c")))
    assert found == [citation(text, first, "file-b"), citation(text, second, "file-c")]
    assert text[found[0]["start_index"]:found[0]["end_index"]] == first


def test_searches_in_one_step_number_on() -> None:
    text = f"One{marker(0, 0, 'a')} two{marker(1, 0, 'b')} three{marker(2, 1, 'c')}"
    found = annotations_of(text, step(search(0, "file-a"), search(1, "file-b")),
                           step(search(2, "file-c", "file-d")))
    assert [a["file_citation"]["file_id"] for a in found] == ["file-a", "file-b", "file-d"]


def test_a_marker_cited_twice_is_annotated_twice() -> None:
    cited = marker(0, 0, "a.pdf")
    text = f"First{cited} and again{cited}."
    found = annotations_of(text, step(search(0, "file-a")))
    assert found == [citation(text, cited, "file-a"),
                     citation(text, cited, "file-a", after=text.index(cited) + 1)]


def test_unknown_markers_are_ignored() -> None:
    text = ("No such search【5:0†x.pdf】, no such result【0:3†x.pdf】, "
            "not numbers【a:b†x.pdf】, no dagger【0:0】, and a real one【0:0†a.pdf】.")
    found = annotations_of(text, step(search(0, "file-a")), step(search(None)))
    assert found == [citation(text, "【0:0†a.pdf】", "file-a")]


def test_an_unclosed_marker_does_not_swallow_the_next() -> None:
    """A marker the model left unclosed is no marker; the one after it is only itself."""
    text = "Unclosed【0:0†x.pdf and a real one【0:1†a.pdf】."
    found = annotations_of(text, step(search(0, "file-x", "file-a")))
    assert found == [citation(text, "【0:1†a.pdf】", "file-a")]


def test_a_failed_search_has_no_markers() -> None:
    text = f"Cited{marker(0, 0, 'x.pdf')}."
    assert annotations_of(text, step(search(None, "file-a"))) == []


def test_links_to_files_the_code_wrote() -> None:
    text = "[Download the chart](sandbox:/mnt/data/chart.png) or the data sandbox:/mnt/data/d.csv"
    found = annotations_of(text, step(code({"chart.png": "file-png", "d.csv": "file-csv"})))
    assert found == [file_path(text, "sandbox:/mnt/data/chart.png", "file-png"),
                     file_path(text, "sandbox:/mnt/data/d.csv", "file-csv")]


@pytest.mark.parametrize("after", [".", ",", ";", ":", "...", ").", "]", "\"", "'", "`", " ", "\n"])
def test_trailing_punctuation_is_not_the_name(after: str) -> None:
    text = f"Saved to sandbox:/mnt/data/sales.v2.csv{after} Enjoy"
    found = annotations_of(text, step(code({"sales.v2.csv": "file-csv"})))
    assert found == [file_path(text, "sandbox:/mnt/data/sales.v2.csv", "file-csv")]


def test_links_in_folders() -> None:
    text = "See sandbox:/mnt/data/out/report.xlsx."
    found = annotations_of(text, step(code({"out/report.xlsx": "file-x"})))
    assert found == [file_path(text, "sandbox:/mnt/data/out/report.xlsx", "file-x")]


def test_links_to_unknown_files_are_ignored() -> None:
    text = "See sandbox:/mnt/data/missing.csv and /mnt/data/chart.png and sandbox:/mnt/data/"
    assert annotations_of(text, step(code({"chart.png": "file-png"}))) == []


def test_a_file_written_again_links_to_the_latest() -> None:
    text = "Final: sandbox:/mnt/data/out.csv"
    found = annotations_of(text, step(code({"out.csv": "file-old"})),
                           step(code({"out.csv": "file-new", "other.csv": "file-o"})))
    assert found == [file_path(text, "sandbox:/mnt/data/out.csv", "file-new")]


def test_annotations_are_in_text_order() -> None:
    cited = marker(0, 0, "notes.txt")
    text = (f"The chart sandbox:/mnt/data/a.png shows it{cited}; "
            f"the table sandbox:/mnt/data/b.csv lists it{marker(1, 0, 'x.md')}.")
    found = annotations_of(text, step(search(0, "file-n"), code({"a.png": "file-a"})),
                           step(search(1, "file-x"), code({"b.csv": "file-b"})))
    assert [a["type"] for a in found] == ["file_path", "file_citation", "file_path",
                                          "file_citation"]
    starts = [a["start_index"] for a in found]
    assert starts == sorted(starts)
    assert [a[a["type"]]["file_id"] for a in found] == [
        "file-a", "file-n", "file-b", "file-x"]
    for annotation in found:
        assert text[annotation["start_index"]:annotation["end_index"]] == annotation["text"]


def test_offsets_count_characters_not_bytes() -> None:
    cited = marker(0, 0, "résumé.pdf")
    text = f"Ünïcode — 数据{cited} sandbox:/mnt/data/é.csv"
    found = annotations_of(text, step(search(0, "file-r"), code({"é.csv": "file-e"})))
    assert found == [citation(text, cited, "file-r"),
                     file_path(text, "sandbox:/mnt/data/é.csv", "file-e")]
