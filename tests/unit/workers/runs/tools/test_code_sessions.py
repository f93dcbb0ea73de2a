"""Which sandbox session a run's code runs in: its thread's, or a named container's."""
from workers.runs.tools.code_interpreter import session_of


def test_a_run_uses_its_threads_session() -> None:
    assert session_of({"thread_id": "thread_a", "tool_resources": {}}) == "thread_a"
    assert session_of({"thread_id": "resp_a", "tool_resources": {
        "code_interpreter": {"file_ids": ["file-x"]}}}) == "resp_a"


def test_a_response_naming_a_container_uses_that_responses_session() -> None:
    assert session_of({"thread_id": "resp_new", "tool_resources": {
        "code_interpreter": {"file_ids": [], "container_id": "cntr_old"}}}) == "resp_old"
