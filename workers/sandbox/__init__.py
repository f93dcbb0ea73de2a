"""The sandbox pool: code_interpreter code run in the thread's sandbox session."""
