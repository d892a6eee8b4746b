"""JSON responses: rendered with orjson (several times faster than the standard library), or sent as
the JSON a model serialised itself."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import JSONResponse as _StarletteJSONResponse
from starlette.responses import Response


class JSONResponse(_StarletteJSONResponse):
    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


class SerialisedJSON(Response):
    """A response whose body is JSON already made (``CDSResponse.wire_json``); headers as ``JSONResponse``'s."""

    media_type = "application/json"
