"""Unix seconds, the only time unit on the wire."""
import time


def now() -> int:
    return int(time.time())
