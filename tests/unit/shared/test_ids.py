"""Object ids: OpenAI's prefixes, 24 characters from a fixed alphabet, and the prefix check."""
import re
import string
from collections import Counter

import pytest

from shared.errors import InvalidRequestError
from shared.ids import PREFIXES, check_id, new_id

ALPHABET = set(string.ascii_letters + string.digits)

EXPECTED_PREFIXES = {
    "assistant": "asst_",
    "thread": "thread_",
    "message": "msg_",
    "run": "run_",
    "step": "step_",
    "call": "call_",
    "file": "file-",
    "vector_store": "vs_",
    "file_batch": "vsfb_",
    "project": "proj_",
    "api_key": "key_",
    "conversation": "conv_",
    "response": "resp_",
    "function_call": "fc_",
    "function_call_output": "fco_",
    "file_search_call": "fs_",
    "code_interpreter_call": "ci_",
}


def test_prefixes_match_openai() -> None:
    assert PREFIXES == EXPECTED_PREFIXES


@pytest.mark.parametrize("kind, prefix", sorted(EXPECTED_PREFIXES.items()))
def test_new_id_shape(kind: str, prefix: str) -> None:
    value = new_id(kind)
    assert value.startswith(prefix)
    body = value[len(prefix):]
    assert len(body) == 24
    assert set(body) <= ALPHABET
    assert re.fullmatch(re.escape(prefix) + r"[A-Za-z0-9]{24}", value)


def test_new_id_unknown_kind() -> None:
    with pytest.raises(KeyError):
        new_id("widget")


def test_new_ids_are_unique_over_10k() -> None:
    ids = [new_id("assistant") for _ in range(10_000)]
    assert len(set(ids)) == 10_000


def test_new_ids_use_the_whole_alphabet() -> None:
    # 10k ids hold 240k characters; every one of the 62 symbols should turn up.
    seen: set[str] = set()
    for _ in range(10_000):
        seen.update(new_id("message")[len("msg_"):])
    assert seen == ALPHABET


def test_new_ids_spread_evenly_over_the_alphabet() -> None:
    # 240k characters: about 3,871 of each symbol, give or take 2% (one standard deviation).
    # Bytes taken modulo 62 without dropping the top eight would give eight symbols 25% more.
    counts = Counter(char for _ in range(10_000) for char in new_id("message")[len("msg_"):])
    assert max(counts.values()) / min(counts.values()) < 1.15, counts.most_common()


@pytest.mark.parametrize("kind", sorted(EXPECTED_PREFIXES))
def test_check_id_accepts_own_ids(kind: str) -> None:
    value = new_id(kind)
    assert check_id(kind, value, f"{kind}_id") == value


@pytest.mark.parametrize("kind, value, param, shown", [
    ("assistant", "thread_abc", "assistant_id", "asst"),
    ("thread", "asst_abc", "thread_id", "thread"),
    ("message", "asst_abc", "message_id", "msg"),
    ("file", "asst_abc", "file_id", "file-"),
    ("run", "thread_abc", "run_id", "run"),
    ("vector_store", "file-abc", "vector_store_ids[0]", "vs"),
])
def test_check_id_wording(kind: str, value: str, param: str, shown: str) -> None:
    with pytest.raises(InvalidRequestError) as info:
        check_id(kind, value, param)
    error = info.value
    assert error.message == (
        f"Invalid '{param}': '{value}'. Expected an ID that begins with '{shown}'."
    )
    assert error.param == param
    assert error.code == "invalid_value"
    assert error.status == 400
    assert error.to_dict() == {"error": {
        "message": error.message, "type": "invalid_request_error", "param": param,
        "code": "invalid_value",
    }}


@pytest.mark.parametrize("kind, value", [
    ("assistant", ""),
    ("assistant", "asst"),          # the prefix needs its separator
    ("assistant", "ASST_abc"),      # prefixes are case-sensitive
    ("assistant", " asst_abc"),
    ("thread", "threadabc"),
    ("message", "message_abc"),
    ("file", "file_abc"),           # files use a dash, as OpenAI's do
])
def test_check_id_refuses_near_misses(kind: str, value: str) -> None:
    with pytest.raises(InvalidRequestError):
        check_id(kind, value, "x_id")


def test_check_id_only_checks_the_prefix() -> None:
    # Existence is the repository's job (a 404); a well-formed unknown id passes here.
    assert check_id("assistant", "asst_" + "a" * 24, "assistant_id") == "asst_" + "a" * 24
    assert check_id("assistant", "asst_x", "assistant_id") == "asst_x"
