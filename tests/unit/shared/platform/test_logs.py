import io
import json
import logging
from collections.abc import Iterator

import pytest
from flask import Flask, g

from shared.platform import logs


@pytest.fixture
def captured() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """A logger writing through Treadle's JSON formatter and context filter."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.json_formatter())
    handler.addFilter(logs.ContextFilter())
    logger = logging.getLogger("treadle.test")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    yield logger, stream
    logger.removeHandler(handler)
    logs.unbind_task()


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_line_is_one_json_object_with_the_fixed_fields(captured) -> None:
    logger, stream = captured
    logger.warning("disk %s", "full")
    [line] = lines(stream)
    assert line["level"] == "WARNING"
    assert line["logger"] == "treadle.test"
    assert line["message"] == "disk full"
    assert str(line["time"]).endswith("+00:00")
    assert not set(line) & set(logs.IDS)


def test_a_run_task_line_carries_the_task_and_run_ids(captured) -> None:
    logger, stream = captured
    logs.bind_task("runs.execute", "c0ffee", ["run_abc"])
    logger.info("model called")
    logs.bind_task("ingest.file", "beef", ["vs_1", "file-1", "1"])
    logger.info("indexed")
    # A runs rpc task's first argument is its reply channel, not a run.
    logs.bind_task("runs.count_input_tokens", "cafe", ["replies:abc", "req1", {}])
    logger.info("counted")
    logs.unbind_task()
    logger.info("idle")
    run_line, ingest_line, rpc_line, idle_line = lines(stream)
    assert (run_line["task_id"], run_line["run_id"]) == ("c0ffee", "run_abc")
    assert ingest_line["task_id"] == "beef" and "run_id" not in ingest_line
    assert rpc_line["task_id"] == "cafe" and "run_id" not in rpc_line
    assert "task_id" not in idle_line


def test_an_api_line_carries_the_request_id(captured) -> None:
    logger, stream = captured
    with Flask("t").test_request_context("/v1/assistants"):
        g.request_id = "req_123"
        logger.info("served")
    logger.info("outside")
    inside, outside = lines(stream)
    assert inside["request_id"] == "req_123"
    assert "request_id" not in outside


def test_text_lines_name_the_ids() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello", None, None)
    logs.bind_task("runs.execute", "t1", ["run_9"])
    try:
        logs.ContextFilter().filter(record)
    finally:
        logs.unbind_task()
    assert logs.TextFormatter().format(record).endswith("INFO x: hello [task_id=t1 run_id=run_9]")


def test_exceptions_keep_their_traceback(captured) -> None:
    logger, stream = captured
    try:
        raise ValueError("bad")
    except ValueError:
        logger.exception("failed")
    [line] = lines(stream)
    assert "ValueError: bad" in str(line["exc_info"])


@pytest.mark.parametrize(("setting", "kind"), [("json", "JsonFormatter"),
                                               ("text", "TextFormatter")])
def test_the_format_follows_the_setting(monkeypatch: pytest.MonkeyPatch, setting: str,
                                        kind: str) -> None:
    from shared.config import get_settings

    monkeypatch.setenv("TREADLE_LOG_FORMAT", setting)
    get_settings.cache_clear()
    try:
        assert type(logs.formatter()).__name__ == kind
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
