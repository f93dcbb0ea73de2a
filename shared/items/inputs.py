"""Input items (a conversation's `items`; a response's `input` later) checked and turned into
stored items, in the shapes of OpenAI's Responses API.

Every refusal names the field in `param` as OpenAI does (`items[2].content[0].type`). Each
stored item gets a new id with its type's prefix; an echoed item's own `id` is read and
dropped, so no client can make an item take an id that exists elsewhere. An `item_reference`
is kept as `{"type": "item_reference", "id"}` until storage resolves it. Pure: the items
references name and the files items name are found by `shared.items.service`.
"""
from collections.abc import Callable
from typing import Any

from shared.errors import InvalidRequestError, json_type_name
from shared.ids import new_id

# OpenAI's cap on one string of input, in characters.
MAX_TEXT_CHARS = 10_485_760

ITEM_STATUSES = ("in_progress", "completed", "incomplete")
FILE_SEARCH_STATUSES = ("in_progress", "searching", "completed", "incomplete", "failed")
CODE_INTERPRETER_STATUSES = ("in_progress", "completed", "incomplete", "interpreting", "failed")
ROLES = ("user", "assistant", "system", "developer")
PHASES = ("commentary", "final_answer")
IMAGE_DETAILS = ("low", "high", "auto", "original")
FILE_DETAILS = ("auto", "low", "high")
IMAGE_URL_SCHEMES = ("http://", "https://", "data:image/")


def _quoted(options: tuple[str, ...] | list[str]) -> str:
    names = [f"'{option}'" for option in options]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def invalid_type(param: str, expected: str, value: Any) -> InvalidRequestError:
    return InvalidRequestError(
        f"Invalid type for '{param}': expected {expected}, "
        f"but got {json_type_name(value)} instead.",
        param=param, code="invalid_type")


def invalid_value(param: str, value: Any, options: tuple[str, ...] | list[str]
                  ) -> InvalidRequestError:
    return InvalidRequestError(
        f"Invalid value: '{value}'. Supported values are: {_quoted(options)}.",
        param=param, code="invalid_value")


def missing(param: str) -> InvalidRequestError:
    return InvalidRequestError(f"Missing required parameter: '{param}'.", param=param,
                               code="missing_required_parameter")


class _Object:
    """One JSON object of the input, read field by field; `done` refuses any field not read."""

    def __init__(self, value: Any, param: str):
        if not isinstance(value, dict):
            raise invalid_type(param, "an object", value)
        self.value: dict[str, Any] = value
        self.param = param
        self.read: set[str] = set()

    def at(self, key: str) -> str:
        return f"{self.param}.{key}"

    def raw(self, key: str, required: bool = False) -> Any:
        self.read.add(key)
        if required and key not in self.value:
            raise missing(self.at(key))
        return self.value.get(key)

    def string(self, key: str, required: bool = False, nullable: bool = False,
               max_chars: int = MAX_TEXT_CHARS) -> str | None:
        value = self.raw(key, required)
        if value is None and (nullable or key not in self.value):
            return None
        return text(value, self.at(key), max_chars)

    def integer(self, key: str) -> int:
        value = self.raw(key, required=True)
        if isinstance(value, bool) or not isinstance(value, int):
            raise invalid_type(self.at(key), "an integer", value)
        return value

    def choice(self, key: str, options: tuple[str, ...], required: bool = False,
               nullable: bool = False) -> str | None:
        value = self.raw(key, required)
        if value is None and (nullable or key not in self.value):
            return None
        if not isinstance(value, str):
            raise invalid_type(self.at(key), "one of " + _quoted(options), value)
        if value not in options:
            raise invalid_value(self.at(key), value, options)
        return value

    def array(self, key: str, required: bool = False, nullable: bool = False
              ) -> list[Any] | None:
        value = self.raw(key, required)
        if value is None and (nullable or key not in self.value):
            return None
        if not isinstance(value, list):
            raise invalid_type(self.at(key), "an array", value)
        return value

    def kind(self, readers: dict[str, Any], default: str | None = None) -> str:
        """The object's `type`, one of `readers`; `default` when it has none."""
        if "type" not in self.value and default is not None:
            self.read.add("type")
            return default
        value = self.raw("type", required=True)
        if not isinstance(value, str):
            raise invalid_type(self.at("type"), "a string", value)
        if value not in readers:
            raise invalid_value(self.at("type"), value, list(readers))
        return value

    def done(self) -> None:
        for key in self.value:
            if key not in self.read:
                raise InvalidRequestError(f"Unknown parameter: '{self.at(key)}'.",
                                          param=self.at(key), code="unknown_parameter")


def text(value: Any, param: str, max_chars: int = MAX_TEXT_CHARS) -> str:
    if not isinstance(value, str):
        raise invalid_type(param, "a string", value)
    if len(value) > max_chars:
        raise InvalidRequestError(
            f"Invalid '{param}': string too long. Expected a string with maximum length "
            f"{max_chars}, but got a string with length {len(value)} instead.",
            param=param, code="string_above_max_length")
    return value


# ------------------------------------------------------------------ content parts

def _input_text(part: _Object) -> dict[str, Any]:
    return {"type": "input_text", "text": part.string("text", required=True)}


def _input_image(part: _Object) -> dict[str, Any]:
    detail = part.choice("detail", IMAGE_DETAILS, nullable=True) or "auto"
    file_id = part.string("file_id", nullable=True)
    image_url = part.string("image_url", nullable=True)
    if (file_id is None) == (image_url is None):
        raise InvalidRequestError(
            f"Invalid '{part.param}': an input_image takes exactly one of 'file_id' and "
            "'image_url'.", param=part.param, code="invalid_value")
    if image_url is not None and not image_url.startswith(IMAGE_URL_SCHEMES):
        raise InvalidRequestError(
            f"Invalid '{part.at('image_url')}': expected an http(s) URL or an image data URL.",
            param=part.at("image_url"), code="invalid_value")
    return {"type": "input_image", "detail": detail, "file_id": file_id, "image_url": image_url}


def _input_file(part: _Object) -> dict[str, Any]:
    if part.raw("file_url") is not None:
        raise InvalidRequestError(
            f"Invalid '{part.at('file_url')}': files by URL are not supported; upload the "
            "file and give its 'file_id'.", param=part.at("file_url"), code="invalid_value")
    stored: dict[str, Any] = {"type": "input_file"}
    file_id = part.string("file_id", nullable=True)
    file_data = part.string("file_data", nullable=True)
    filename = part.string("filename", nullable=True, max_chars=512)
    detail = part.choice("detail", FILE_DETAILS, nullable=True)
    if (file_id is None) == (file_data is None):
        raise InvalidRequestError(
            f"Invalid '{part.param}': an input_file takes exactly one of 'file_id' and "
            "'file_data'.", param=part.param, code="invalid_value")
    if file_data is not None and filename is None:
        raise missing(part.at("filename"))
    for key, value in (("file_id", file_id), ("filename", filename),
                       ("file_data", file_data), ("detail", detail)):
        if value is not None:
            stored[key] = value
    return stored


def _annotation(value: Any, param: str) -> dict[str, Any]:
    annotation = _Object(value, param)
    kind = annotation.kind(_ANNOTATION_FIELDS)
    stored: dict[str, Any] = {"type": kind}
    for key, is_int in _ANNOTATION_FIELDS[kind]:
        stored[key] = (annotation.integer(key) if is_int
                       else annotation.string(key, required=True))
    annotation.done()
    return stored


_ANNOTATION_FIELDS: dict[str, tuple[tuple[str, bool], ...]] = {
    "file_citation": (("file_id", False), ("filename", False), ("index", True)),
    "url_citation": (("url", False), ("title", False), ("start_index", True),
                     ("end_index", True)),
    "container_file_citation": (("container_id", False), ("file_id", False),
                                ("filename", False), ("start_index", True),
                                ("end_index", True)),
    "file_path": (("file_id", False), ("index", True)),
}


def _output_text(part: _Object) -> dict[str, Any]:
    stored: dict[str, Any] = {"type": "output_text", "text": part.string("text", required=True)}
    # OpenAI takes assistant text without annotations (its migration guide sends it so).
    annotations = part.array("annotations") or []
    stored["annotations"] = [_annotation(annotation, f"{part.at('annotations')}[{index}]")
                             for index, annotation in enumerate(annotations)]
    logprobs = part.array("logprobs", nullable=True)
    if logprobs is not None:
        for index, logprob in enumerate(logprobs):
            if not isinstance(logprob, dict):
                raise invalid_type(f"{part.at('logprobs')}[{index}]", "an object", logprob)
        stored["logprobs"] = logprobs
    return stored


def _refusal(part: _Object) -> dict[str, Any]:
    return {"type": "refusal", "refusal": part.string("refusal", required=True)}


PartReader = Callable[[_Object], dict[str, Any]]
INPUT_PARTS: dict[str, PartReader] = {
    "input_text": _input_text, "input_image": _input_image, "input_file": _input_file}
OUTPUT_PARTS: dict[str, PartReader] = {"output_text": _output_text, "refusal": _refusal}


def _parts(value: Any, param: str, readers: dict[str, PartReader]) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        raise invalid_type(param, "a string or an array of content parts", value)
    if not value:
        raise InvalidRequestError(
            f"Invalid '{param}': empty array. Expected an array with minimum length 1, but "
            "got an empty array instead.", param=param, code="empty_array")
    stored = []
    for index, raw in enumerate(value):
        part = _Object(raw, f"{param}[{index}]")
        stored.append(readers[part.kind(readers)](part))
        part.done()
    return stored


# ------------------------------------------------------------------ items

def _message(item: _Object) -> dict[str, Any]:
    role = item.choice("role", ROLES, required=True)
    status = item.choice("status", ITEM_STATUSES, nullable=True) or "completed"
    content = item.raw("content", required=True)
    param = item.at("content")
    assistant = role == "assistant"
    if isinstance(content, str):
        text(content, param)
        parts = [{"type": "output_text", "text": content, "annotations": []} if assistant
                 else {"type": "input_text", "text": content}]
    else:
        parts = _parts(content, param, OUTPUT_PARTS if assistant else INPUT_PARTS)
    stored: dict[str, Any] = {"type": "message", "status": status, "role": role,
                              "content": parts}
    phase = item.choice("phase", PHASES, nullable=True)
    if phase is not None:
        stored["phase"] = phase
    return stored


def _function_call(item: _Object) -> dict[str, Any]:
    return {
        "type": "function_call",
        "status": item.choice("status", ITEM_STATUSES, nullable=True) or "completed",
        "call_id": item.string("call_id", required=True, max_chars=64),
        "name": item.string("name", required=True, max_chars=128),
        "arguments": item.string("arguments", required=True),
    }


def _function_call_output(item: _Object) -> dict[str, Any]:
    stored: dict[str, Any] = {
        "type": "function_call_output",
        "status": item.choice("status", ITEM_STATUSES, nullable=True) or "completed",
        "call_id": item.string("call_id", required=True, max_chars=64),
    }
    output = item.raw("output", required=True)
    stored["output"] = (text(output, item.at("output")) if isinstance(output, str)
                        else _parts(output, item.at("output"), INPUT_PARTS))
    return stored


def _search_result(value: Any, param: str) -> dict[str, Any]:
    result = _Object(value, param)
    stored: dict[str, Any] = {}
    for key in ("file_id", "filename", "text"):
        found = result.string(key, nullable=True)
        if found is not None:
            stored[key] = found
    score = result.raw("score")
    if score is not None:
        if isinstance(score, bool) or not isinstance(score, int | float):
            raise invalid_type(result.at("score"), "a number", score)
        stored["score"] = score
    attributes = result.raw("attributes")
    if attributes is not None:
        if not isinstance(attributes, dict):
            raise invalid_type(result.at("attributes"), "an object", attributes)
        for key, attribute in attributes.items():
            if not isinstance(attribute, str | int | float):
                raise invalid_type(f"{result.at('attributes')}.{key}",
                                   "a string, a number or a boolean", attribute)
        stored["attributes"] = attributes
    result.done()
    return stored


def _file_search_call(item: _Object) -> dict[str, Any]:
    status = item.choice("status", FILE_SEARCH_STATUSES, required=True)
    queries = item.array("queries", required=True) or []
    for index, query in enumerate(queries):
        text(query, f"{item.at('queries')}[{index}]")
    results = item.array("results", nullable=True)
    return {
        "type": "file_search_call",
        "status": status,
        "queries": queries,
        "results": None if results is None else [
            _search_result(result, f"{item.at('results')}[{index}]")
            for index, result in enumerate(results)],
    }


def _interpreter_output(value: Any, param: str) -> dict[str, Any]:
    output = _Object(value, param)
    kind = output.kind({"logs": None, "image": None})
    key = "logs" if kind == "logs" else "url"
    stored = {"type": kind, key: output.string(key, required=True)}
    output.done()
    return stored


def _code_interpreter_call(item: _Object) -> dict[str, Any]:
    status = item.choice("status", CODE_INTERPRETER_STATUSES, required=True)
    code = item.string("code", required=True, nullable=True)
    container_id = item.string("container_id", required=True, max_chars=256)
    outputs = item.array("outputs", required=True, nullable=True)
    return {
        "type": "code_interpreter_call",
        "status": status,
        "code": code,
        "container_id": container_id,
        "outputs": None if outputs is None else [
            _interpreter_output(output, f"{item.at('outputs')}[{index}]")
            for index, output in enumerate(outputs)],
    }


ITEM_READERS: dict[str, Callable[[_Object], dict[str, Any]]] = {
    "message": _message,
    "function_call": _function_call,
    "function_call_output": _function_call_output,
    "file_search_call": _file_search_call,
    "code_interpreter_call": _code_interpreter_call,
}


REFERENCE = "item_reference"


def _default_kind(value: dict[str, Any]) -> str:
    """OpenAI's item reference may leave out its `type`: an object with an `id` and no
    message fields is one; any other object without `type` is an easy input message."""
    if "id" in value and "role" not in value and "content" not in value:
        return REFERENCE
    return "message"


def parse_item(value: Any, param: str) -> dict[str, Any]:
    """One input item as it is stored: `{"id", "type", "status", ...the type's fields}`;
    an item reference as `{"type": "item_reference", "id"}`, the id it names.
    An item without `type` is a message, as in OpenAI's easy input message."""
    item = _Object(value, param)
    kind = item.kind({**ITEM_READERS, REFERENCE: None}, default=_default_kind(item.value))
    if kind == REFERENCE:
        reference = {"type": REFERENCE,
                     "id": item.string("id", required=True, max_chars=256)}
        item.done()
        return reference
    item.string("id", nullable=True, max_chars=256)
    stored = ITEM_READERS[kind](item)
    item.done()
    return {"id": new_id(kind), **stored}


def parse_items(value: Any, param: str) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        raise invalid_type(param, "an array", value)
    return [parse_item(item, f"{param}[{index}]") for index, item in enumerate(value)]


def file_references(items: list[dict[str, Any]], param: str) -> list[tuple[str, str]]:
    """`(file_id, param)` for every file the stored `items` hand the model (input_image and
    input_file parts of messages and of function outputs), `param` naming the input field."""
    found = []
    for index, item in enumerate(items):
        if item["type"] == "message":
            key, parts = "content", item["content"]
        elif item["type"] == "function_call_output" and isinstance(item["output"], list):
            key, parts = "output", item["output"]
        else:
            continue
        for position, part in enumerate(parts):
            if part.get("file_id") is not None and part["type"] in INPUT_PARTS:
                found.append((part["file_id"], f"{param}[{index}].{key}[{position}].file_id"))
    return found
