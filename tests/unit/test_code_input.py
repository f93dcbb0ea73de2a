"""The code of a code_interpreter call shown while the model is still writing it."""
import json

import pytest

from workers.tools.code_interpreter import partial_input

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
