"""Object ids with OpenAI's prefixes, and the one check of an id's prefix."""
import secrets
import string

from shared.errors import InvalidRequestError

_ALPHABET = string.ascii_letters + string.digits
_ID_LENGTH = 24

PREFIXES: dict[str, str] = {
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
    # Conversation items (and, later, response items), by item type.
    "function_call": "fc_",
    "function_call_output": "fco_",
    "file_search_call": "fs_",
    "code_interpreter_call": "ci_",
}


# Random bytes below this map evenly onto the alphabet (four bytes a character).
_EVEN_BELOW = 256 - 256 % len(_ALPHABET)


def new_id(kind: str) -> str:
    """One read of the system's randomness per id, not one per character (secrets.choice
    reads it for each: a system call apiece); bytes past an even multiple of the alphabet
    are dropped, so every character stays equally likely."""
    chars: list[str] = []
    while len(chars) < _ID_LENGTH:
        chars += [_ALPHABET[byte % len(_ALPHABET)]
                  for byte in secrets.token_bytes(2 * _ID_LENGTH) if byte < _EVEN_BELOW]
    return PREFIXES[kind] + "".join(chars[:_ID_LENGTH])


def is_well_formed(kind: str, value: str) -> bool:
    """Whether `value` could be an id Treadle made; anything else cannot be found."""
    rest = value.removeprefix(PREFIXES[kind])
    return len(rest) == _ID_LENGTH and rest.isascii() and rest.isalnum()


def check_id(kind: str, value: str, param: str) -> str:
    """Refuse an id that cannot be of `kind`, before any lookup, as OpenAI does."""
    prefix = PREFIXES[kind]
    if not value.startswith(prefix):
        raise InvalidRequestError(
            f"Invalid '{param}': '{value}'. Expected an ID that begins with "
            f"'{prefix.rstrip('_')}'.",
            param=param,
            code="invalid_value",
        )
    return value
