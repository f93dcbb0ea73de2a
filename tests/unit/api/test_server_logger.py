"""The API's gunicorn logger makes an access line only when the access logger would print it."""
import logging
from collections.abc import Iterator

import pytest
from gunicorn.config import Config

from api.server import Logger
from shared.platform.logs import dict_config


@pytest.fixture
def logger() -> Iterator[Logger]:
    access = logging.getLogger("gunicorn.access")
    level, propagate = access.level, access.propagate
    cfg = Config()
    cfg.set("accesslog", None)
    cfg.set("logconfig_dict", dict_config())
    yield Logger(cfg)
    access.setLevel(level)
    access.propagate = propagate


def test_no_access_line_is_made_for_a_logger_that_drops_it(logger: Logger) -> None:
    assert not logger.access_log_enabled


def test_an_access_logger_raised_to_info_gets_its_lines(logger: Logger) -> None:
    logger.access_log.setLevel(logging.INFO)
    assert logger.access_log_enabled
