"""The translator fed with run event sequences recorded from real runs (the e2e suite's file
search, code interpreter and function runs, read back from their Redis streams): every event
it makes must be one of the SDK's `ResponseStreamEvent`s, and the SDK's own accumulator
behind `client.responses.stream()` must accept them in that order."""
import copy
import json
from pathlib import Path
from typing import Any

import pydantic
import pytest

from shared.items.wire import INCLUDABLE, item_view
from shared.responses.stream import OUTPUT_EVENT, Translator, sse
from shared.runs import streamed

responses = pytest.importorskip("openai.types.responses")
streaming = pytest.importorskip("openai.lib.streaming.responses._responses")
from openai import omit  # noqa: E402  (after the skip: the 1.x SDK has no Responses)

RECORDED = Path(__file__).parent / "recorded"
EVENTS = pydantic.TypeAdapter(responses.ResponseStreamEvent)
Recorded = list[tuple[str, Any]]


def _recorded(name: str) -> Recorded:
    lines = (RECORDED / f"{name}.jsonl").read_text().splitlines()
    return [tuple(json.loads(line)) for line in lines]  # type: ignore[misc]


def _row(events: Recorded, request: dict[str, Any] | None = None) -> dict[str, Any]:
    run = events[0][1]
    return {"id": run["id"], "created_at": run["created_at"], "request": request or {},
            "previous_response_id": None, "conversation_id": None, "background": False,
            "store": True}


def _translate(events: Recorded, include: Any = INCLUDABLE,
               request: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    translator = Translator(_row(events, request), include)
    made = [e for name, data in events for e in translator.feed(name, copy.deepcopy(data))]
    assert translator.ended
    return made


def _accumulated(made: list[dict[str, Any]]) -> Any:
    """What `client.responses.stream(...).get_final_response()` gives for these events."""
    state = streaming.ResponseStreamState(input_tools=omit, text_format=omit)
    for event in made:
        state.handle_event(EVENTS.validate_python(event))
    return state._completed_response


# Runs of the Assistants API, and runs of responses (their terminal batch carries the stored
# output, `OUTPUT_EVENT`).
ALL = ["file_search_citation", "code_error", "code_image", "search_and_function",
       "plain_text", "expired_function"]
RESPONSES = ["response_file_search", "response_code", "response_function",
             "response_cancelled", "response_failed", "response_incomplete"]
ALL += RESPONSES


@pytest.mark.parametrize("name", ALL)
def test_every_event_is_the_sdks_and_numbered_from_zero(name: str) -> None:
    made = _translate(_recorded(name))
    assert [e["sequence_number"] for e in made] == list(range(len(made)))
    for event in made:
        EVENTS.validate_python(event)
        assert event["type"].startswith("response.")
    assert made[0]["type"] == "response.created"
    assert made[-1]["type"] in {"response.completed", "response.failed",
                                "response.incomplete"}


@pytest.mark.parametrize("name", ALL)
def test_same_recording_same_stream(name: str) -> None:
    """What `starting_after` relies on: any replica numbers the events alike."""
    assert _translate(_recorded(name)) == _translate(_recorded(name))


@pytest.mark.parametrize("name", ALL)
def test_items_open_and_close_in_order(name: str) -> None:
    made = _translate(_recorded(name))
    opened = [e["output_index"] for e in made if e["type"] == "response.output_item.added"]
    closed = [e["output_index"] for e in made if e["type"] == "response.output_item.done"]
    assert opened == list(range(len(opened)))
    assert sorted(closed) == opened
    for event in made:
        if "output_index" in event and not event["type"].startswith("response.output_item"):
            index = event["output_index"]
            position = made.index(event)
            assert index in [e["output_index"] for e in made[:position]
                             if e["type"] == "response.output_item.added"]
            assert index not in [e["output_index"] for e in made[:position]
                                 if e["type"] == "response.output_item.done"]


def test_text_with_a_citation_accumulates_in_the_sdk() -> None:
    made = _translate(_recorded("file_search_citation"))
    kinds = [e["type"] for e in made]
    assert kinds[:2] == ["response.created", "response.queued"]
    assert kinds.index("response.file_search_call.searching") < kinds.index(
        "response.file_search_call.completed")
    message = [e for e in made if e["type"] == "response.output_item.done"][-1]["item"]
    [part] = message["content"]
    assert part["text"] == "QV-7731【0:0†kestrel.txt】"
    assert part["annotations"] == [{"type": "file_citation",
                                    "file_id": "file-s5JjlO0VxjSn0XgtKuLc2rfC",
                                    "filename": "kestrel.txt", "index": 7}]
    final = _accumulated(made)
    assert final.status == "completed"
    assert final.output_text == "QV-7731【0:0†kestrel.txt】"
    assert final.usage.total_tokens == 98
    assert [item.type for item in final.output] == ["file_search_call", "message"]


def test_code_streams_then_runs_then_completes() -> None:
    made = _translate(_recorded("code_image"))
    kinds = [e["type"] for e in made]
    code = "".join(e["delta"] for e in made
                   if e["type"] == "response.code_interpreter_call_code.delta"
                   and e["output_index"] == 0)
    done = next(e for e in made if e["type"] == "response.code_interpreter_call_code.done")
    assert done["code"] == code
    assert kinds.index("response.code_interpreter_call.in_progress") < kinds.index(
        "response.code_interpreter_call.interpreting") < kinds.index(
        "response.code_interpreter_call.completed")
    final = _accumulated(made)
    calls = [item for item in final.output if item.type == "code_interpreter_call"]
    assert calls and all(item.status == "completed" for item in calls)
    images = [o for item in calls for o in item.outputs or [] if o.type == "image"]
    assert images and all(o.url.startswith("/v1/files/file-") for o in images)


def test_function_call_arguments_stream_and_complete() -> None:
    made = _translate(_recorded("search_and_function"))
    arguments = [e for e in made if e["type"].startswith("response.function_call_arguments")]
    assert [e["type"] for e in arguments] == ["response.function_call_arguments.delta",
                                              "response.function_call_arguments.done"]
    assert arguments[1]["arguments"] == '{"code": "QV-7731"}'
    final = _accumulated(made)
    [call] = [item for item in final.output if item.type == "function_call"]
    assert call.name == "order_part" and call.call_id.startswith("call_")
    assert call.id == "fc_" + call.call_id.removeprefix("call_")


def test_expired_run_fails_with_its_open_items_incomplete() -> None:
    made = _translate(_recorded("expired_function"))
    final = made[-1]
    assert final["type"] == "response.failed"
    assert final["response"]["status"] == "failed"
    assert final["response"]["error"]["code"] == "server_error"
    done = [e["item"] for e in made if e["type"] == "response.output_item.done"]
    assert done and all(item["status"] == "incomplete" for item in done)
    state = streaming.ResponseStreamState(input_tools=omit, text_format=omit)
    for event in made:
        state.handle_event(EVENTS.validate_python(event))


def test_the_stored_output_is_the_final_one_and_is_not_forwarded() -> None:
    events = _recorded("file_search_citation")
    stored = [{"id": "fs_x", "type": "file_search_call", "status": "completed",
               "queries": ["kestrel"], "results": [{"file_id": "f", "text": "t"}]}]
    made = _translate([*events[:-2], (OUTPUT_EVENT, {"output": stored}), *events[-2:]],
                      include=[])
    assert OUTPUT_EVENT not in [e["type"] for e in made]
    assert made[-1]["response"]["output"] == [{**stored[0], "results": None}]


def test_results_left_out_unless_included() -> None:
    made = _translate(_recorded("file_search_citation"), include=[])
    searches = [e["item"] for e in made if e["type"] == "response.output_item.done"
                and e["item"]["type"] == "file_search_call"]
    assert searches and all(item["results"] is None for item in searches)


def test_request_fields_are_echoed_on_every_response_event() -> None:
    request = {"instructions": "Be brief.", "metadata": {"k": "v"}, "temperature": 0.5,
               "tools": [{"type": "file_search", "vector_store_ids": ["vs_1"]}]}
    made = _translate(_recorded("file_search_citation"), request=request)
    for event in made:
        if "response" in event:
            assert event["response"]["instructions"] == "Be brief."
            assert event["response"]["tools"] == request["tools"]
            assert event["response"]["metadata"] == {"k": "v"}
            assert event["response"]["temperature"] == 0.5


def test_a_withdrawn_message_is_closed_and_left_out() -> None:
    events = _recorded("plain_text")
    created = next(d for n, d in events if n == "thread.message.created")
    withdrawn = {**created, "id": "msg_withdrawn", "status": "incomplete",
                 "incomplete_details": {"reason": streamed.WITHDRAWN_REASON},
                 "content": [{"type": "text", "text": {"value": "Hel", "annotations": []}}]}
    position = next(i for i, (n, _) in enumerate(events) if n == "thread.message.created")
    before = [("thread.message.created", {**created, "id": "msg_withdrawn"}),
              ("thread.message.delta", {"id": "msg_withdrawn", "object": "thread.message.delta",
                                        "delta": {"content": [{"index": 0, "type": "text", "text": {
                                            "value": "Hel", "annotations": []}}]}}),
              ("thread.message.incomplete", withdrawn)]
    made = _translate([*events[:position], *before, *events[position:]])
    final = _accumulated(made)
    assert [item.id for item in final.output] == [created["id"]]
    assert final.output_text == next(
        d for n, d in events if n == "thread.message.completed")["content"][0]["text"]["value"]


def test_cancelled_run_ends_incomplete_with_what_it_wrote() -> None:
    events = [(n, d) for n, d in _recorded("plain_text")
              if n not in {"thread.message.completed", "thread.run.completed", "done"}]
    run = {**events[0][1], "status": "cancelled"}
    made = _translate([*events, ("thread.run.cancelled", run)])
    assert made[-1]["type"] == "response.incomplete"
    assert made[-1]["response"]["status"] == "cancelled"
    [message] = made[-1]["response"]["output"]
    assert message["status"] == "incomplete" and message["content"][0]["text"]
    state = streaming.ResponseStreamState(input_tools=omit, text_format=omit)
    for event in made:
        state.handle_event(EVENTS.validate_python(event))


def test_sse_names_each_event_by_its_type() -> None:
    made = _translate(_recorded("plain_text"))
    text = sse(made[0]).decode()
    assert text.startswith("event: response.created\ndata: {")
    assert text.endswith("\n\n")
    assert json.loads(text.split("data: ", 1)[1]) == made[0]


def test_a_stream_that_lost_its_start_still_ends() -> None:
    """Redis restarted while the run went on: the stream holds only what came after."""
    events = _recorded("code_error")
    later = [(n, d) for n, d in events if not n.startswith("thread.run.") or
             n.startswith("thread.run.step.") or n == "thread.run.completed"]
    later = later[later.index(next(e for e in later if e[0] == "thread.run.step.delta")):]
    translator = Translator(_row(events), INCLUDABLE, run=events[0][1])
    made = [e for name, data in later for e in translator.feed(name, copy.deepcopy(data))]
    assert translator.ended
    assert made[-1]["type"] == "response.completed"
    for event in made:
        EVENTS.validate_python(event)


@pytest.mark.parametrize("name", RESPONSES)
def test_a_response_run_ends_with_its_stored_output(name: str) -> None:
    events = _recorded(name)
    stored = next(d for n, d in events if n == OUTPUT_EVENT)["output"]
    made = _translate(events)
    assert made[-1]["response"]["output"] == [item_view(i, INCLUDABLE) for i in stored]
    final = _accumulated(made)
    if final is not None:  # only response.completed makes the helper's final response
        assert [item.id for item in final.output] == [item["id"] for item in stored]
    ended = {"response_cancelled": ("response.incomplete", "cancelled"),
             "response_failed": ("response.failed", "failed"),
             "response_incomplete": ("response.incomplete", "incomplete")}
    kind, status = ended.get(name, ("response.completed", "completed"))
    assert (made[-1]["type"], made[-1]["response"]["status"]) == (kind, status)


def test_a_response_runs_search_item_is_announced_then_stored_whole() -> None:
    made = _translate(_recorded("response_file_search"))
    kinds = [e["type"] for e in made]
    assert kinds.index("response.file_search_call.searching") < kinds.index(
        "response.file_search_call.completed") < kinds.index("response.output_text.delta")
    [search] = [i for i in made[-1]["response"]["output"] if i["type"] == "file_search_call"]
    assert search["queries"] and search["results"]
