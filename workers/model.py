"""Calls to the configured OpenAI-compatible Chat Completions endpoint.

The openai client retries 408, 409, 429 and 5xx with backoff by itself
(`model_max_retries`); what still fails is classified into the run's `last_error` code.
"""
from functools import cache
from typing import Any

import openai

from shared.config import get_settings


@cache
def client() -> openai.OpenAI:
    settings = get_settings()
    return openai.OpenAI(
        base_url=settings.model_base_url,
        api_key=settings.model_api_key,
        timeout=settings.model_timeout_seconds,
        max_retries=settings.model_max_retries,
    )


def error_code(error: Exception) -> str:
    if isinstance(error, openai.RateLimitError):
        return "rate_limit_exceeded"
    if isinstance(error, openai.BadRequestError | openai.UnprocessableEntityError
                  | openai.NotFoundError):
        return "invalid_prompt"
    return "server_error"


def error_message(error: Exception) -> str:
    if isinstance(error, openai.APIStatusError):
        body = error.body
        if isinstance(body, dict):
            detail = body.get("error", body)
            if isinstance(detail, dict) and detail.get("message"):
                return f"The model endpoint answered {error.status_code}: {detail['message']}"
        return f"The model endpoint answered {error.status_code}."
    if isinstance(error, openai.APITimeoutError):
        return "The model endpoint did not answer in time."
    if isinstance(error, openai.APIConnectionError):
        return "The model endpoint could not be reached."
    return f"The model call failed: {error}"


def stream_chat(request: dict[str, Any]) -> Any:
    return client().chat.completions.create(
        **request, stream=True, stream_options={"include_usage": True}
    )
