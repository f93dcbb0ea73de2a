"""The code of a code_interpreter call shown while the model is still writing it."""
import json

import pytest

from workers.runs.tools.code_interpreter import partial_input

CODES = [
    'print("hello")\nx = 1\n',
    "s = 'tab\\there'\nprint(s, \"quote\")",
    "name = 'Zoë 😀 ✓'\nprint(name)",
    "",
]


@pytest.mark.parametrize("code", CODES)
@pytest.mark.parametrize("ascii_only", [True, False])
def test_every_prefix_shows_a_prefix_of_the_code(code: str, ascii_only: bool) -> None:
    arguments = json.dumps({"code": code}, ensure_ascii=ascii_only)
    shown = ""
    for end in range(len(arguments) + 1):
        now = partial_input(arguments[:end])
        assert code.startswith(now)
        assert now.startswith(shown)
        shown = now
    assert shown == code


def test_other_arguments_show_nothing() -> None:
    assert partial_input('{"language": "python", "code": "x') == ""
    assert partial_input("not json") == ""


def test_a_malformed_escape_shows_nothing() -> None:
    assert partial_input('{"code": "a\\qb') == ""


@pytest.mark.parametrize(("arguments", "shown"), [
    ('{"code": "a\\', "a"),  # an escape cut after its backslash
    ('{"code": "a\\u00', "a"),  # a \u escape cut mid-way
    ('{"code": "a\\u00e9', "aé"),
    ('{"code": "a\\ud83d', "a"),  # an escaped surrogate pair cut between its halves
    ('{"code": "a\\ud83d\\ude0', "a"),
    ('{"code": "a\\ud83d\\ude00', "a😀"),
    ('{"code": "', ""),
    ('{"code": "x", "lang', "x"),
    (' { "code" : "x', "x"),
])
def test_only_whole_characters_show(arguments: str, shown: str) -> None:
    assert partial_input(arguments) == shown


def test_a_surrogate_pair_split_between_stream_chunks() -> None:
    """A server that escapes a pair and splits it between two chunks: each chunk's JSON
    decodes to one surrogate code point, so the arguments hold the pair as two."""
    assert partial_input('{"code": "a' + "\ud83d") == "a"
    assert partial_input('{"code": "a' + "\ud83d" + "\ude00") == "a😀"
    assert partial_input('{"code": "a' + "\ud83d" + "\ude00" + "b") == "a😀b"


@pytest.mark.parametrize("arguments", [
    '{"code": 5',
    '{"code"',
    '["code", "x',
    '{"code": "a\\ude00b',  # a lone surrogate, which jiter refuses (json.loads would not)
    '{"code": "a' + "\ude00" + 'b',
    '{"code": "a\tb',  # a raw control character, which `tools.call`'s json.loads refuses
    "",
])
def test_no_code_string_shows_nothing(arguments: str) -> None:
    assert partial_input(arguments) == ""
