"""The Blueprint every view module uses: flask-smorest's, with one schema per class.

webargs builds a new instance of an argument schema class for every request it parses, and
building one deep-copies every field: a tenth of the API's CPU on a run's create. A schema
holds no state between loads, so each class gets one instance, made on first use.
"""
from functools import cache
from typing import Any

import flask_smorest
import marshmallow
from webargs.flaskparser import FlaskParser


@cache
def _instance(schema: type[marshmallow.Schema]) -> marshmallow.Schema:
    return schema()


class _Parser(FlaskParser):
    def _get_schema(self, argmap: Any, req: Any) -> marshmallow.Schema:
        if isinstance(argmap, type) and issubclass(argmap, marshmallow.Schema):
            return _instance(argmap)
        return super()._get_schema(argmap, req)


class Blueprint(flask_smorest.Blueprint):
    ARGUMENTS_PARSER = _Parser()
