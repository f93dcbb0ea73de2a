"""A create-response body checked and translated, with no I/O: the Responses API's request
normalised (what the response echoes), and the run the runs pool executes for it.

Every refusal names its field in `param` as OpenAI does (`tools[1].vector_store_ids`). What
needs storage (the previous response, the conversation, the items its references name, the
files, vector stores and the assistant a body names) is resolved by
`shared.responses.service`.
"""
from dataclasses import dataclass, replace
from typing import Any

from shared.errors import InvalidRequestError
from shared.ids import check_id
from shared.items.inputs import invalid_type, invalid_value, missing, parse_items, text
from shared.items.wire import INCLUDABLE
from shared.vectors.filters import FilterError, parse_filters

# Fields the SDK may send that change nothing here: streaming is the API's to serve, and
# tiers, caching keys and safety ids have no meaning on a self-hosted server.
IGNORED = ("stream", "stream_options", "service_tier", "prompt_cache_key",
           "prompt_cache_retention", "safety_identifier", "top_logprobs")
TRUNCATIONS = ("auto", "disabled")
TOOL_TYPES = ("function", "file_search", "code_interpreter")
TOOL_CHOICES = ("none", "auto", "required")
TEXT_FORMATS = ("text", "json_object", "json_schema")
EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh")
RANKERS = ("auto", "default-2024-11-15", "default_2024_08_21")
VERBOSITIES = ("low", "medium", "high")
MIN_OUTPUT_TOKENS = 16
MAX_SEARCH_RESULTS = 50
MAX_METADATA_KEYS = 16
MAX_METADATA_KEY_CHARS = 64
MAX_METADATA_VALUE_CHARS = 512


@dataclass(frozen=True)
class Request:
    """The body as checked. `echo`: the request's remaining fields as the response shows
    them (`tools` as given); `run`: the fields of the run that executes it."""
    model: str | None
    input: list[dict[str, Any]]
    previous_response_id: str | None
    conversation_id: str | None
    store: bool
    background: bool
    prompt_id: str | None
    echo: dict[str, Any]
    run: dict[str, Any]
    # The fields the body gave (not null): the prompt bridge fills in the others.
    given: frozenset[str]

    def file_ids(self) -> list[tuple[str, str]]:
        """`(file_id, param)` for each file the tools hand the sandbox."""
        code = self.run["tool_resources"].get("code_interpreter") or {}
        return [(file_id, f"tools[{_tool_index(self.run['tools'], 'code_interpreter')}]"
                          f".container.file_ids[{position}]")
                for position, file_id in enumerate(code.get("file_ids", []))]

    def vector_store_ids(self) -> list[tuple[str, str]]:
        """`(vector_store_id, param)` for each store file_search reaches."""
        search = self.run["tool_resources"].get("file_search") or {}
        return [(store_id, f"tools[{_tool_index(self.run['tools'], 'file_search')}]"
                           f".vector_store_ids[{position}]")
                for position, store_id in enumerate(search.get("vector_store_ids", []))]

    def container(self) -> tuple[str, str] | None:
        """`(container_id, param)` of the container (another response's sandbox) that
        code_interpreter works in, when the body names one."""
        code = self.run["tool_resources"].get("code_interpreter") or {}
        if code.get("container_id") is None:
            return None
        index = _tool_index(self.run["tools"], "code_interpreter")
        return code["container_id"], f"tools[{index}].container"


def _tool_index(tools: list[dict[str, Any]], kind: str) -> int:
    return next(index for index, tool in enumerate(tools) if tool["type"] == kind)


def _unknown(param: str) -> InvalidRequestError:
    return InvalidRequestError(f"Unknown parameter: '{param}'.", param=param,
                               code="unknown_parameter")


def _object(value: Any, param: str, known: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise invalid_type(param, "an object", value)
    for key in value:
        if key not in known:
            raise _unknown(f"{param}.{key}")
    return value


def _boolean(value: Any, param: str) -> bool:
    if not isinstance(value, bool):
        raise invalid_type(param, "a boolean", value)
    return value


def _integer(value: Any, param: str, least: int, most: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid_type(param, "an integer", value)
    if value < least or (most is not None and value > most):
        bound = f"at least {least}" if most is None else f"between {least} and {most}"
        raise InvalidRequestError(f"Invalid '{param}': expected a value {bound}, but got "
                                  f"{value} instead.", param=param, code="invalid_value")
    return value


def _number(value: Any, param: str, least: float, most: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise invalid_type(param, "a number", value)
    if not least <= value <= most:
        raise InvalidRequestError(
            f"Invalid '{param}': expected a value between {least:g} and {most:g}, but got "
            f"{value} instead.", param=param, code="invalid_value")
    return float(value)


def _choice(value: Any, param: str, options: tuple[str, ...]) -> str:
    if not isinstance(value, str):
        raise invalid_type(param, "a string", value)
    if value not in options:
        raise invalid_value(param, value, options)
    return value


def _strings(value: Any, param: str) -> list[str]:
    if not isinstance(value, list):
        raise invalid_type(param, "an array", value)
    return [text(item, f"{param}[{index}]") for index, item in enumerate(value)]


def metadata(value: Any, param: str = "metadata") -> dict[str, str]:
    if not isinstance(value, dict):
        raise invalid_type(param, "an object", value)
    if len(value) > MAX_METADATA_KEYS:
        raise InvalidRequestError(
            f"Invalid '{param}': too many keys. Expected at most {MAX_METADATA_KEYS}, but got "
            f"{len(value)} instead.", param=param, code="object_above_max_properties")
    for key, item in value.items():
        if len(key) > MAX_METADATA_KEY_CHARS:
            raise InvalidRequestError(
                f"Invalid '{param}': key '{key}' is longer than {MAX_METADATA_KEY_CHARS} "
                "characters.", param=param, code="invalid_value")
        text(item, f"{param}.{key}", MAX_METADATA_VALUE_CHARS)
    return value


# ------------------------------------------------------------------ input

def input_items(value: Any, param: str = "input") -> list[dict[str, Any]]:
    """A string is one user message; a list is items as a conversation stores them."""
    if isinstance(value, str):
        return parse_items([{"type": "message", "role": "user", "content": text(value, param)}],
                           param)
    if not isinstance(value, list):
        raise invalid_type(param, "a string or an array of input items", value)
    return parse_items(value, param)


def _conversation(value: Any) -> str:
    if isinstance(value, dict):
        _object(value, "conversation", ("id",))
        if "id" not in value:
            raise missing("conversation.id")
        value = value["id"]
    if not isinstance(value, str):
        raise invalid_type("conversation", "a string or an object", value)
    return check_id("conversation", value, "conversation")


# ------------------------------------------------------------------ tools

def _function_tool(tool: dict[str, Any], param: str) -> dict[str, Any]:
    _object(tool, param, ("type", "name", "description", "parameters", "strict",
                          "defer_loading"))
    if "name" not in tool:
        raise missing(f"{param}.name")
    function: dict[str, Any] = {"name": text(tool["name"], f"{param}.name", 64)}
    if tool.get("description") is not None:
        function["description"] = text(tool["description"], f"{param}.description")
    if tool.get("parameters") is not None:
        if not isinstance(tool["parameters"], dict):
            raise invalid_type(f"{param}.parameters", "an object", tool["parameters"])
        function["parameters"] = tool["parameters"]
    if tool.get("strict") is not None:
        function["strict"] = _boolean(tool["strict"], f"{param}.strict")
    return {"type": "function", "function": function}


def _ranking(value: Any, param: str) -> dict[str, Any]:
    _object(value, param, ("ranker", "score_threshold", "hybrid_search"))
    ranking: dict[str, Any] = {}
    if value.get("ranker") is not None:
        ranking["ranker"] = _choice(value["ranker"], f"{param}.ranker", RANKERS)
    if value.get("score_threshold") is not None:
        ranking["score_threshold"] = _number(value["score_threshold"],
                                             f"{param}.score_threshold", 0, 1)
    if value.get("hybrid_search") is not None:
        hybrid = _object(value["hybrid_search"], f"{param}.hybrid_search",
                         ("embedding_weight", "text_weight"))
        for key in ("embedding_weight", "text_weight"):
            if key not in hybrid:
                raise missing(f"{param}.hybrid_search.{key}")
            _number(hybrid[key], f"{param}.hybrid_search.{key}", 0, 1)
    return ranking


def _file_search_tool(tool: dict[str, Any], param: str) -> tuple[dict[str, Any], list[str]]:
    _object(tool, param, ("type", "vector_store_ids", "max_num_results", "ranking_options",
                          "filters"))
    if "vector_store_ids" not in tool:
        raise missing(f"{param}.vector_store_ids")
    store_ids = _strings(tool["vector_store_ids"], f"{param}.vector_store_ids")
    for index, store_id in enumerate(store_ids):
        check_id("vector_store", store_id, f"{param}.vector_store_ids[{index}]")
    options: dict[str, Any] = {}
    if tool.get("max_num_results") is not None:
        options["max_num_results"] = _integer(tool["max_num_results"],
                                              f"{param}.max_num_results", 1,
                                              MAX_SEARCH_RESULTS)
    if tool.get("ranking_options") is not None:
        options["ranking_options"] = _ranking(tool["ranking_options"],
                                              f"{param}.ranking_options")
    if tool.get("filters") is not None:
        try:
            parse_filters(tool["filters"], f"{param}.filters")
        except FilterError as error:
            raise InvalidRequestError(f"Invalid '{error.param}': {error}", param=error.param,
                                      code="invalid_value") from None
        options["filters"] = tool["filters"]
    return {"type": "file_search", "file_search": options}, store_ids


def _code_interpreter_tool(tool: dict[str, Any], param: str
                           ) -> tuple[dict[str, Any], dict[str, Any]]:
    """The run's tool and its code_interpreter resources: the files of an `auto` container,
    or the container (a response's sandbox, `cntr_` + its id's suffix) it works in."""
    _object(tool, param, ("type", "container"))
    if "container" not in tool:
        raise missing(f"{param}.container")
    container = tool["container"]
    where = f"{param}.container"
    if isinstance(container, str):
        if not container.startswith("cntr_"):
            raise InvalidRequestError(
                f"Invalid '{where}': '{container}'. Expected an ID that begins with 'cntr'.",
                param=where, code="invalid_value")
        return {"type": "code_interpreter"}, {"container_id": container, "file_ids": []}
    _object(container, where, ("type", "file_ids", "memory_limit", "network_policy"))
    if "type" not in container:
        raise missing(f"{where}.type")
    _choice(container["type"], f"{where}.type", ("auto",))
    file_ids = _strings(container.get("file_ids") or [], f"{where}.file_ids")
    for index, file_id in enumerate(file_ids):
        check_id("file", file_id, f"{where}.file_ids[{index}]")
    return {"type": "code_interpreter"}, {"file_ids": file_ids}


def _tools(value: Any) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The run's tools (Assistants shape, in the order given) and tool_resources."""
    if not isinstance(value, list):
        raise invalid_type("tools", "an array", value)
    tools: list[dict[str, Any]] = []
    resources: dict[str, Any] = {}
    names: set[str] = set()
    for index, tool in enumerate(value):
        param = f"tools[{index}]"
        if not isinstance(tool, dict):
            raise invalid_type(param, "an object", tool)
        if "type" not in tool:
            raise missing(f"{param}.type")
        kind = _choice(tool["type"], f"{param}.type", TOOL_TYPES)
        if kind == "function":
            translated = _function_tool(tool, param)
            name = translated["function"]["name"]
            if name in names or name in ("file_search", "code_interpreter"):
                raise InvalidRequestError(f"Invalid '{param}.name': a tool named '{name}' is "
                                          "given already.", param=f"{param}.name",
                                          code="invalid_value")
            names.add(name)
            tools.append(translated)
            continue
        if kind in resources:
            raise InvalidRequestError(f"Invalid '{param}': at most one {kind} tool.",
                                      param=param, code="invalid_value")
        if kind == "file_search":
            translated, store_ids = _file_search_tool(tool, param)
            resources[kind] = {"vector_store_ids": store_ids}
        else:
            translated, resources[kind] = _code_interpreter_tool(tool, param)
        tools.append(translated)
    return tools, resources


def _tool_choice(value: Any, tools: list[dict[str, Any]]) -> Any:
    """The run's tool_choice (Assistants shape)."""
    if isinstance(value, str):
        return _choice(value, "tool_choice", TOOL_CHOICES)
    if not isinstance(value, dict):
        raise invalid_type("tool_choice", "a string or an object", value)
    if "type" not in value:
        raise missing("tool_choice.type")
    kind = _choice(value["type"], "tool_choice.type", TOOL_TYPES)
    if kind == "function":
        _object(value, "tool_choice", ("type", "name"))
        if "name" not in value:
            raise missing("tool_choice.name")
        name = text(value["name"], "tool_choice.name")
        if not any(t["type"] == "function" and t["function"]["name"] == name for t in tools):
            raise InvalidRequestError(
                f"Invalid 'tool_choice.name': no function tool named '{name}'.",
                param="tool_choice.name", code="invalid_value")
        return {"type": "function", "function": {"name": name}}
    _object(value, "tool_choice", ("type",))
    if not any(t["type"] == kind for t in tools):
        raise InvalidRequestError(f"Invalid 'tool_choice': no {kind} tool is given.",
                                  param="tool_choice.type", code="invalid_value")
    return {"type": kind}


# ------------------------------------------------------------------ text, reasoning, prompt

def _text(value: Any) -> tuple[dict[str, Any], Any]:
    """The echoed `text` and the run's response_format."""
    _object(value, "text", ("format", "verbosity"))
    echoed: dict[str, Any] = {"format": {"type": "text"}}
    if value.get("verbosity") is not None:
        echoed["verbosity"] = _choice(value["verbosity"], "text.verbosity", VERBOSITIES)
    form = value.get("format")
    if form is None:
        return echoed, "auto"
    if not isinstance(form, dict):
        raise invalid_type("text.format", "an object", form)
    if "type" not in form:
        raise missing("text.format.type")
    kind = _choice(form["type"], "text.format.type", TEXT_FORMATS)
    if kind != "json_schema":
        _object(form, "text.format", ("type",))
        echoed["format"] = {"type": kind}
        return echoed, {"type": kind}
    _object(form, "text.format", ("type", "name", "schema", "description", "strict"))
    for key in ("name", "schema"):
        if key not in form:
            raise missing(f"text.format.{key}")
    schema: dict[str, Any] = {"name": text(form["name"], "text.format.name", 64)}
    if not isinstance(form["schema"], dict):
        raise invalid_type("text.format.schema", "an object", form["schema"])
    schema["schema"] = form["schema"]
    if form.get("description") is not None:
        schema["description"] = text(form["description"], "text.format.description")
    if form.get("strict") is not None:
        schema["strict"] = _boolean(form["strict"], "text.format.strict")
    echoed["format"] = {"type": "json_schema", **schema}
    return echoed, {"type": "json_schema", "json_schema": schema}


def _reasoning(value: Any) -> dict[str, Any]:
    _object(value, "reasoning", ("effort", "summary", "generate_summary"))
    reasoning: dict[str, Any] = {"effort": None, "summary": None}
    if value.get("effort") is not None:
        reasoning["effort"] = _choice(value["effort"], "reasoning.effort", EFFORTS)
    for key in ("summary", "generate_summary"):
        if value.get(key) is not None:
            reasoning["summary"] = _choice(value[key], f"reasoning.{key}",
                                           ("auto", "concise", "detailed"))
    return reasoning


def _prompt(value: Any) -> dict[str, Any]:
    """The bridge: a stored prompt is an assistant here (`{"id": "asst_..."}`)."""
    _object(value, "prompt", ("id", "version", "variables"))
    if "id" not in value:
        raise missing("prompt.id")
    prompt_id = text(value["id"], "prompt.id")
    check_id("assistant", prompt_id, "prompt.id")
    prompt: dict[str, Any] = {"id": prompt_id, "version": None, "variables": None}
    if value.get("version") is not None:
        prompt["version"] = text(value["version"], "prompt.version")
    if value.get("variables") is not None:
        if not isinstance(value["variables"], dict):
            raise invalid_type("prompt.variables", "an object", value["variables"])
        prompt["variables"] = value["variables"]
    return prompt


# ------------------------------------------------------------------ the body

_KNOWN = ("model", "input", "instructions", "previous_response_id", "conversation", "store",
          "background", "tools", "tool_choice", "parallel_tool_calls", "max_output_tokens",
          "max_tool_calls", "text", "truncation", "include", "metadata", "temperature",
          "top_p", "user", "reasoning", "prompt", *IGNORED)


# What POST /v1/responses/input_tokens takes: what shapes the prompt a response would send.
_COUNTED = ("model", "input", "instructions", "previous_response_id", "conversation", "tools",
            "tool_choice", "parallel_tool_calls", "text", "truncation", "reasoning")


def _optional(given: dict[str, Any], key: str, check: Any, *bounds: Any) -> Any:
    return check(given[key], key, *bounds) if key in given else None


def _given(body: Any, known: tuple[str, ...]) -> dict[str, Any]:
    """The body's fields that are not null; 400 for a body that is no object or names a
    field not `known`."""
    if not isinstance(body, dict):
        raise invalid_type("body", "an object", body)
    for key in body:
        if key not in known:
            raise _unknown(key)
    return {key: value for key, value in body.items() if value is not None}


def parse_request(body: Any) -> Request:
    """The body of POST /v1/responses, checked: 400 naming the field otherwise."""
    given = _given(body, _KNOWN)
    prompt = _prompt(given["prompt"]) if "prompt" in given else None
    if "model" not in given and prompt is None:
        raise missing("model")
    return _checked(given, prompt)


def parse_count_request(body: Any) -> Request:
    """The body of POST /v1/responses/input_tokens: the fields it shares with a create,
    checked as a create checks them; the model may be left out (the count is the same)."""
    return _checked(_given(body, _COUNTED), None)


def _checked(given: dict[str, Any], prompt: dict[str, Any] | None) -> Request:
    model = _optional(given, "model", text, 256)
    previous = given.get("previous_response_id")
    if previous is not None:
        check_id("response", text(previous, "previous_response_id"), "previous_response_id")
    conversation = _conversation(given["conversation"]) if "conversation" in given else None
    if previous is not None and conversation is not None:
        raise InvalidRequestError(
            "Mutually exclusive parameters: Ensure you are only providing one of: "
            "'previous_response_id' or 'conversation'.", param="conversation",
            code="mutually_exclusive_parameters")
    store = _boolean(given.get("store", True), "store")
    background = _boolean(given.get("background", False), "background")
    if background and not store:
        raise InvalidRequestError("Background mode requires store to be true.",
                                  param="background", code="invalid_value")
    tools, resources = _tools(given.get("tools", []))
    text_echo, response_format = _text(given.get("text", {}))
    reasoning = _reasoning(given.get("reasoning", {}))
    truncation = _choice(given.get("truncation", "disabled"), "truncation", TRUNCATIONS)
    echo: dict[str, Any] = {
        "model": model,
        "instructions": _optional(given, "instructions", text),
        "tools": given.get("tools", []),
        "tool_choice": given.get("tool_choice", "auto"),
        "parallel_tool_calls": _boolean(given.get("parallel_tool_calls", True),
                                        "parallel_tool_calls"),
        "max_output_tokens": _optional(given, "max_output_tokens", _integer,
                                       MIN_OUTPUT_TOKENS),
        "max_tool_calls": _optional(given, "max_tool_calls", _integer, 1),
        "text": text_echo,
        "truncation": truncation,
        "include": [_choice(value, f"include[{index}]", INCLUDABLE) for index, value in
                    enumerate(_strings(given.get("include", []), "include"))],
        "metadata": metadata(given.get("metadata", {})),
        "temperature": _optional(given, "temperature", _number, 0, 2),
        "top_p": _optional(given, "top_p", _number, 0, 1),
        "user": _optional(given, "user", text, 256),
        "reasoning": reasoning,
        "prompt": prompt,
    }
    run: dict[str, Any] = {
        "model": model,
        "instructions": echo["instructions"] or "",
        "tools": tools,
        "tool_resources": resources,
        "tool_choice": _tool_choice(echo["tool_choice"], tools),
        "parallel_tool_calls": echo["parallel_tool_calls"],
        "temperature": echo["temperature"],
        "top_p": echo["top_p"],
        "max_completion_tokens": echo["max_output_tokens"],
        # Auto truncation drops the middle of the history as a thread's does; disabled
        # keeps it whole and the response ends incomplete when it does not fit.
        "truncation_strategy": {"type": "auto", "last_messages": None},
        "response_format": response_format,
        "reasoning_effort": reasoning["effort"],
        "metadata": echo["metadata"],
    }
    return Request(
        model=model,
        input=input_items(given.get("input", []), "input"),
        previous_response_id=previous,
        conversation_id=conversation,
        store=store,
        background=background,
        prompt_id=prompt["id"] if prompt is not None else None,
        echo=echo,
        run=run,
        given=frozenset(given),
    )


def _responses_tool(tool: dict[str, Any], resources: dict[str, Any]) -> dict[str, Any]:
    """An assistant's tool as a response shows it."""
    if tool["type"] == "function":
        return {"type": "function", **tool["function"]}
    if tool["type"] == "file_search":
        stores = (resources.get("file_search") or {}).get("vector_store_ids", [])
        return {"type": "file_search", "vector_store_ids": stores,
                **(tool.get("file_search") or {})}
    files = (resources.get("code_interpreter") or {}).get("file_ids", [])
    return {"type": "code_interpreter", "container": {"type": "auto", "file_ids": files}}


def bridged(request: Request, assistant: dict[str, Any]) -> Request:
    """The request with what it leaves out taken from the assistant its `prompt` names:
    model, instructions, tools (with the assistant's tool_resources), temperature, top_p."""
    echo, run = dict(request.echo), dict(request.run)
    if "model" not in request.given:
        echo["model"] = run["model"] = assistant["model"]
    if "instructions" not in request.given:
        echo["instructions"] = assistant["instructions"]
        run["instructions"] = assistant["instructions"] or ""
    if "tools" not in request.given:
        resources = assistant["tool_resources"] or {}
        run["tools"] = [tool for tool in assistant["tools"] if tool["type"] in TOOL_TYPES]
        run["tool_resources"] = {kind: resources[kind] for kind in resources
                                 if any(t["type"] == kind for t in run["tools"])}
        echo["tools"] = [_responses_tool(tool, resources) for tool in run["tools"]]
    for name in ("temperature", "top_p"):
        if name not in request.given:
            echo[name] = run[name] = assistant[name]
    return replace(request, model=echo["model"], echo=echo, run=run)
