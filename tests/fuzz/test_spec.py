"""Schemathesis drives the running server from OpenAI's spec (tests/spec) for a bounded time:
no request may answer a 5xx, and every answer must match the spec's response schema. A step
of its own, `make fuzz` (`TREADLE_FUZZ_SECONDS`), which `.ci/run` runs and `make test` leaves
out.

The spec is fuzzed as OpenAI's API answers, not as it is written, where the two differ:
`accepted_differences` applies each such difference (the README's "Differences from
OpenAI's spec" lists them too), and nothing else is left out.
"""
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

SPEC = Path(__file__).resolve().parents[1] / "spec" / "assistants-openapi.yaml"
FUZZ_SECONDS = int(os.environ.get("TREADLE_FUZZ_SECONDS", "120"))


def accepted_differences(spec: dict[str, Any]) -> dict[str, Any]:
    schemas = spec["components"]["schemas"]
    for name, schema in schemas.items():
        # An empty list has no first or last object: OpenAI answers null for both.
        if name.startswith("List") and name.endswith("Response"):
            for cursor in ("first_id", "last_id"):
                if cursor in schema.get("properties", {}):
                    schema["properties"][cursor]["type"] = ["string", "null"]
    # The upload's purpose enum has `evals`, the file object's does not; OpenAI echoes it.
    purpose = schemas["OpenAIFile"]["properties"]["purpose"]
    purpose["enum"] = [*purpose["enum"], "evals"]
    return spec


def test_the_spec_finds_no_server_error_and_no_schema_violation(
        api_base: str, workers: dict[str, Path], api_key: str, tmp_path: Path) -> None:
    spec = tmp_path / "openapi.yaml"
    spec.write_text(yaml.safe_dump(accepted_differences(yaml.safe_load(SPEC.read_text()))))
    schemathesis = Path(sys.executable).parent / "schemathesis"
    run = subprocess.run(
        [str(schemathesis), "run", str(spec), "--url", f"{api_base}/v1",
         "--header", f"Authorization: Bearer {api_key}",
         "--header", "OpenAI-Beta: assistants=v2",
         "--checks", "not_a_server_error,response_schema_conformance",
         "--max-time", str(FUZZ_SECONDS), "--workers", "1", "--seed", "1", "--no-color"],
        capture_output=True, text=True, timeout=FUZZ_SECONDS + 240)
    assert run.returncode == 0, run.stdout[-30_000:] + run.stderr[-5_000:]
