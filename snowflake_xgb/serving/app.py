"""The HTTP application: SageMaker's hosting routes on a Falcon WSGI app.

``GET /ping`` (200 once the model is loaded; 503 with the reason otherwise),
``POST /invocations`` (predictions, with explanations when asked; also in Snowflake's
external-function form) and ``GET /execution-parameters`` (what batch transform
may send). Each worker builds one app and loads the model once. Every refusal is a 4xx whose
body is one line saying what to fix.
"""

from __future__ import annotations

import logging
import os

import falcon
import orjson

from . import explanations
from . import model as served
from .bad_request import BadRequest
from .payloads import parse, request_media_type
from .responses import format_predictions, response_media_type
from .server_config import ServerConfig

logger = logging.getLogger(__name__)


def create_app(config: ServerConfig) -> falcon.App:
    """The app for one worker, with the model loaded (or the reason it could not be)."""
    try:
        model = served.load_model(config.model_dir, config.threads_per_worker, config.outputs)
    except served.ModelNotServable as reason:
        model, problem = None, f"cannot serve: {reason}"
        logger.error("Worker %d %s /ping answers 503.", os.getpid(), problem)
    else:
        problem = None
        logger.info(
            "Worker %d loaded the model: %s, %d features, %d XGBoost thread(s).",
            os.getpid(),
            model.objective,
            model.num_features,
            config.threads_per_worker,
        )
    app = falcon.App(cors_enable=False)
    app.req_options.auto_parse_form_urlencoded = False
    app.set_error_serializer(_one_line_error)
    app.add_error_handler(BadRequest, _refuse)
    app.add_route("/ping", _Ping(problem))
    app.add_route("/invocations", _Invocations(config, model, problem))
    app.add_route("/execution-parameters", _ExecutionParameters(config))
    return app


class _Ping:
    def __init__(self, problem: str | None) -> None:
        self._problem = problem

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        if self._problem:
            raise falcon.HTTPServiceUnavailable(description=self._problem)
        resp.content_type = falcon.MEDIA_TEXT
        resp.data = b"\n"


class _Invocations:
    def __init__(
        self, config: ServerConfig, model: served.ServedModel | None, problem: str | None
    ) -> None:
        self._config = config
        self._model = model
        self._problem = problem

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        if self._model is None:
            raise falcon.HTTPServiceUnavailable(description=self._problem)
        media_type = request_media_type(req.content_type)
        answer_in = response_media_type(req.get_header("Accept"), media_type, req.client_prefers)
        kind = explanations.requested(
            req.get_header(explanations.CUSTOM_ATTRIBUTES_HEADER), self._config.explain
        )
        body = _read_body(req, self._config.max_payload_bytes)
        parsed = parse(body, media_type, self._model)
        del body  # the matrix is all that is needed from here on
        predictions = served.predict(self._model, parsed.matrix, self._config.outputs)
        explanation = explanations.explain(self._model, parsed.matrix, kind) if kind else None
        resp.content_type = falcon.MEDIA_JSON if parsed.row_numbers is not None else answer_in
        resp.data = format_predictions(
            predictions,
            answer_in,
            self._config.batch,
            explanation,
            parsed.row_numbers,
            self._model.target_names,
        )


class _ExecutionParameters:
    def __init__(self, config: ServerConfig) -> None:
        self._document = orjson.dumps(
            {
                "MaxConcurrentTransforms": config.workers,
                "BatchStrategy": "MULTI_RECORD",
                "MaxPayloadInMB": config.max_payload_mb,
            }
        )

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.content_type = falcon.MEDIA_JSON
        resp.data = self._document


def _read_body(req: falcon.Request, limit: int) -> bytes:
    """The whole body, refusing one over ``limit`` before reading it when its length is known."""
    too_large = f"the body is over {limit // (1024 * 1024)} MB: send fewer rows per request."
    if req.content_length is not None and req.content_length > limit:
        raise BadRequest(too_large, status=413)
    body = req.bounded_stream.read(limit + 1)
    if len(body) > limit:
        raise BadRequest(too_large, status=413)
    return body


def _refuse(req: falcon.Request, resp: falcon.Response, error: BadRequest, params) -> None:
    resp.status = falcon.code_to_http_status(error.status)
    resp.content_type = falcon.MEDIA_TEXT
    resp.data = error.message.encode() + b"\n"


def _one_line_error(req: falcon.Request, resp: falcon.Response, error: falcon.HTTPError) -> None:
    resp.content_type = falcon.MEDIA_TEXT
    resp.data = (error.description or error.title or "error").encode() + b"\n"
