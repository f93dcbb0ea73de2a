"""Isolated code execution for the code_interpreter tool."""
