"""The answer of `GET /v1/status`, described for the OpenAPI document."""
from marshmallow import Schema, fields


class ServiceState(Schema):
    ok = fields.Boolean()
    error = fields.String(allow_none=True)


class RunsProcess(Schema):
    process = fields.String()
    in_flight = fields.Integer()
    capacity = fields.Integer()


class ProjectStatus(Schema):
    id = fields.String()
    runs = fields.Dict(keys=fields.String(), values=fields.Integer(), allow_none=True,
                       metadata={"description": "The project's runs by status, every status "
                                                "named; null when Postgres could not be read."})


class DeploymentStatus(Schema):
    checked_at = fields.Integer(metadata={"description": "When the oldest fact shown was read "
                                                         "(Unix seconds)."})
    services = fields.Dict(keys=fields.String(), values=fields.Nested(ServiceState),
                           metadata={"description": "postgres, redis and broker."})
    migrations_pending = fields.List(fields.String(), allow_none=True)
    queues = fields.Dict(keys=fields.String(), values=fields.Integer(allow_none=True),
                         allow_none=True,
                         metadata={"description": "Tasks waiting per broker queue."})
    workers = fields.List(fields.String(), allow_none=True,
                          metadata={"description": "Workers that answered a ping."})
    runs_in_flight = fields.List(fields.Nested(RunsProcess), allow_none=True)
    ingest_backlog = fields.Integer(allow_none=True, metadata={
        "description": "Vector store files waiting to be indexed."})


class StatusObject(Schema):
    object = fields.Constant("status")
    healthy = fields.Boolean()
    project = fields.Nested(ProjectStatus)
    deployment = fields.Nested(DeploymentStatus)
    errors = fields.Dict(keys=fields.String(), values=fields.String(), metadata={
        "description": "Why a field is null, by its path (`deployment.workers`)."})
