"""Prompt truncation (`workers.runs.prompt.build`) over real thread, message, run and step rows.

`build(conn, run)` reads the thread from Postgres; the pure costs and the fitting to a
budget (`fitted`) are tested in tests/unit/workers/runs/test_prompt.py.
"""
import uuid
from dataclasses import dataclass
from typing import Any

import pytest

from shared.projects.api_keys import ensure_project
from shared.storage import repository
from shared.storage.db import unit_of_work
from shared.storage.repository import MESSAGES, RUNS, STEPS, THREADS
from workers.runs.prompt import DEFAULT_CONTEXT_TOKENS, Prompt, PromptTooLongError, _tokens, build

CREATED = 1_700_000_000
INSTRUCTIONS = "You answer questions about the attached reports."


def content(value: str) -> list[dict[str, Any]]:
    return [{"type": "text", "text": {"value": value, "annotations": []}}]


def said(index: int, words: int = 40) -> str:
    return f"Message {index}:" + " word" * words


@dataclass
class Thread:
    project_id: str
    thread_id: str
    # The thread's messages as the prompt shows them, in order.
    chat: list[dict[str, Any]]

    def add(self, role: str, value: str, run_id: str | None = None) -> str:
        with unit_of_work() as conn:
            message = repository.insert(conn, MESSAGES, {
                "project_id": self.project_id, "thread_id": self.thread_id,
                "created_at": CREATED, "status": "completed", "role": role,
                "content": content(value), "run_id": run_id,
            })
        if run_id is None:
            self.chat.append({"role": role, "content": value})
        return str(message["id"])

    def run(self, instructions: str = INSTRUCTIONS, **options: Any) -> dict[str, Any]:
        with unit_of_work() as conn:
            return repository.insert(conn, RUNS, {
                "project_id": self.project_id, "thread_id": self.thread_id,
                "assistant_id": "asst_" + "a" * 24, "created_at": CREATED,
                "status": "in_progress", "model": "gpt-4o", "instructions": instructions,
                **options,
            })

    def said_in_run(self, run: dict[str, Any], value: str) -> None:
        """A completed message_creation step of `run`, as its engine records one."""
        message_id = self.add("assistant", value, run_id=run["id"])
        with unit_of_work() as conn:
            repository.insert(conn, STEPS, {
                "project_id": self.project_id, "run_id": run["id"],
                "thread_id": self.thread_id, "assistant_id": run["assistant_id"],
                "created_at": CREATED, "type": "message_creation", "status": "completed",
                "step_details": {"type": "message_creation",
                                 "message_creation": {"message_id": message_id}},
            })


def new_thread(messages: int = 0, words: int = 40) -> Thread:
    project_id = ensure_project(f"prompt-{uuid.uuid4().hex}")
    with unit_of_work() as conn:
        row = repository.insert(conn, THREADS, {"project_id": project_id, "created_at": CREATED})
    thread = Thread(project_id, str(row["id"]), [])
    for index in range(messages):
        thread.add("user" if index % 2 == 0 else "assistant", said(index, words))
    return thread


@pytest.fixture
def thread(database_url: str) -> Thread:
    """Six messages of equal cost in a project of the test's own."""
    return new_thread(6)


def prompt_of(run: dict[str, Any]) -> Prompt:
    with unit_of_work() as conn:
        return build(conn, run)


def cost(messages: list[dict[str, Any]]) -> int:
    return sum(_tokens(m) for m in messages)


SYSTEM = {"role": "system", "content": INSTRUCTIONS}


def test_a_thread_that_fits_is_whole(thread: Thread) -> None:
    prompt = prompt_of(thread.run())
    assert prompt.messages == [SYSTEM, *thread.chat]
    assert prompt.tokens == cost(prompt.messages)


def test_no_instructions_no_system_message(thread: Thread) -> None:
    prompt = prompt_of(thread.run(instructions=""))
    assert prompt.messages == thread.chat


def test_messages_cost_the_same(thread: Thread) -> None:
    """What the budget arithmetic below relies on."""
    assert len({_tokens(m) for m in thread.chat}) == 1


@pytest.mark.parametrize("last", [1, 2, 5, 6, 10])
def test_last_messages_keeps_the_latest(thread: Thread, last: int) -> None:
    run = thread.run(truncation_strategy={"type": "last_messages", "last_messages": last})
    prompt = prompt_of(run)
    assert prompt.messages == [SYSTEM, *thread.chat[-last:]]
    assert prompt.tokens == cost(prompt.messages)


def test_last_messages_zero_keeps_none(thread: Thread) -> None:
    run = thread.run(truncation_strategy={"type": "last_messages", "last_messages": 0})
    prompt = prompt_of(run)
    assert prompt.messages == [SYSTEM]
    assert prompt.tokens == _tokens(SYSTEM)


@pytest.mark.parametrize("strategy", [
    {"type": "auto", "last_messages": None},
    {"type": "auto", "last_messages": 2},
    {"type": "last_messages", "last_messages": None},
])
def test_other_strategies_keep_the_whole_thread(thread: Thread,
                                                strategy: dict[str, Any]) -> None:
    prompt = prompt_of(thread.run(truncation_strategy=strategy))
    assert prompt.messages == [SYSTEM, *thread.chat]


def test_over_budget_drops_from_the_middle(thread: Thread) -> None:
    each = _tokens(thread.chat[0])
    fixed = _tokens(SYSTEM)
    # Exactly three messages' worth: the first and the latest two.
    run = thread.run(max_prompt_tokens=fixed + 3 * each)
    prompt = prompt_of(run)
    assert prompt.messages == [SYSTEM, thread.chat[0], *thread.chat[-2:]]
    assert prompt.tokens == fixed + 3 * each
    # One token less: the first and the latest. (One active run per thread: the same run.)
    prompt = prompt_of({**run, "max_prompt_tokens": fixed + 3 * each - 1})
    assert prompt.messages == [SYSTEM, thread.chat[0], thread.chat[-1]]
    assert prompt.tokens <= fixed + 3 * each - 1


def test_when_two_do_not_fit_the_latest_stays(thread: Thread) -> None:
    each = _tokens(thread.chat[0])
    fixed = _tokens(SYSTEM)
    prompt = prompt_of(thread.run(max_prompt_tokens=fixed + 2 * each - 1))
    assert prompt.messages == [SYSTEM, thread.chat[-1]]
    assert prompt.tokens == fixed + each


def test_last_messages_applies_before_the_budget(thread: Thread) -> None:
    each = _tokens(thread.chat[0])
    fixed = _tokens(SYSTEM)
    run = thread.run(truncation_strategy={"type": "last_messages", "last_messages": 3},
                     max_prompt_tokens=fixed + 2 * each)
    # Of the latest three, the first of them and the latest.
    assert prompt_of(run).messages == [SYSTEM, thread.chat[3], thread.chat[5]]


def test_too_long_even_at_its_shortest(thread: Thread) -> None:
    each = _tokens(thread.chat[0])
    fixed = _tokens(SYSTEM)
    with pytest.raises(PromptTooLongError) as info:
        prompt_of(thread.run(max_prompt_tokens=fixed + each - 1))
    assert f"prompt of {fixed + each} tokens exceeds {fixed + each - 1}" in str(info.value)


def test_instructions_alone_over_budget(database_url: str) -> None:
    empty = new_thread(0)
    run = empty.run(max_prompt_tokens=_tokens(SYSTEM) - 1)
    with pytest.raises(PromptTooLongError):
        prompt_of(run)
    assert prompt_of({**run, "max_prompt_tokens": _tokens(SYSTEM)}).messages == [SYSTEM]


def test_the_runs_own_steps_are_kept_and_counted(thread: Thread) -> None:
    each = _tokens(thread.chat[0])
    run = thread.run()
    thread.said_in_run(run, "Here is what I found so far.")
    own = {"role": "assistant", "content": "Here is what I found so far."}
    fixed = _tokens(SYSTEM) + _tokens(own)
    # The budget, known only now, is set on the run as the engine would read it.
    run = {**run, "max_prompt_tokens": fixed + each}
    prompt = prompt_of(run)
    # The run's own message is not a thread message to truncate: it follows the thread.
    assert prompt.messages == [SYSTEM, thread.chat[-1], own]
    assert prompt.tokens == fixed + each
    with pytest.raises(PromptTooLongError):
        prompt_of({**run, "max_prompt_tokens": fixed + each - 1})


def test_the_default_budget_is_the_context_limit(database_url: str) -> None:
    thread = new_thread(0)
    thread.add("user", said(0))
    thread.add("assistant", said(1, words=DEFAULT_CONTEXT_TOKENS))
    thread.add("user", said(2))
    prompt = prompt_of(thread.run())
    assert prompt.messages == [SYSTEM, thread.chat[0], thread.chat[2]]
    assert prompt.tokens <= DEFAULT_CONTEXT_TOKENS


def test_what_the_run_said_is_replayed_unless_it_can_have_said_nothing(thread: Thread) -> None:
    run = thread.run()
    thread.said_in_run(run, "An answer so far.")
    replayed = {"role": "assistant", "content": "An answer so far."}
    with unit_of_work() as conn:
        assert build(conn, run).messages == [SYSTEM, *thread.chat, replayed]
        # A first execution's first model call: nothing of the run's own is read.
        assert build(conn, run, replay=False).messages == [SYSTEM, *thread.chat]
