from typing import Any

from marshmallow import ValidationError, fields, validate, validates_schema

from api.fields import RequestSchema
from shared.files.service import PURPOSES


class UploadForm(RequestSchema):
    purpose = fields.String(required=True, validate=validate.OneOf(PURPOSES))
    expires_after_anchor = fields.String(
        data_key="expires_after[anchor]", validate=validate.OneOf(["created_at"])
    )
    expires_after_seconds = fields.Integer(
        data_key="expires_after[seconds]", validate=validate.Range(min=3600, max=2_592_000)
    )

    @validates_schema
    def _both_or_neither(self, data: dict[str, Any], **kwargs: Any) -> None:
        if ("expires_after_anchor" in data) != ("expires_after_seconds" in data):
            raise ValidationError(
                "Give both expires_after[anchor] and expires_after[seconds].", "expires_after"
            )


class UploadFile(RequestSchema):
    file = fields.Raw(required=True, metadata={"type": "string", "format": "binary"})


class ListFilesArgs(RequestSchema):
    limit = fields.Integer(load_default=10_000, validate=validate.Range(min=1, max=10_000))
    order = fields.String(load_default="desc", validate=validate.OneOf(["asc", "desc"]))
    after = fields.String()
    purpose = fields.String()
