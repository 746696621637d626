"""``serve``: the command SageMaker runs (``docker run IMAGE serve``) to host the model.

Gunicorn runs the app with ``SAGEMAKER_MODEL_SERVER_WORKERS`` worker processes (default: one
per core), each loading the model once after the fork. Workers are gunicorn's threaded kind
with one thread each: one request at a time per worker (XGBoost uses the worker's share of the
cores), and kept-alive connections do not tie a worker up. SIGTERM stops taking new requests,
lets those in flight finish, and exits 0.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from gunicorn.app.base import BaseApplication

from .server_config import ServerConfig, ServerConfigError

# Longer than the idle timeout of the load balancers in front (60 s), so that the server is
# never the side that closes a connection a client is about to reuse.
KEEPALIVE_SECONDS = 75
GRACEFUL_SHUTDOWN_SECONDS = 30

logger = logging.getLogger(__name__)


def gunicorn_options(config: ServerConfig) -> dict[str, Any]:
    return {
        "bind": f"0.0.0.0:{config.port}",
        "workers": config.workers,
        "worker_class": "gthread",
        "threads": 1,
        "timeout": config.timeout_seconds,
        "graceful_timeout": min(config.timeout_seconds, GRACEFUL_SHUTDOWN_SECONDS),
        "keepalive": KEEPALIVE_SECONDS,
        "preload_app": False,  # the model is loaded in each worker, after the fork
        "accesslog": None,
        "errorlog": "-",
        "loglevel": "info",
        "proc_name": "snowflake-xgb-serve",
    }


class _Server(BaseApplication):
    def __init__(self, config: ServerConfig) -> None:
        self._config = config
        super().__init__()

    def load_config(self) -> None:
        for name, value in gunicorn_options(self._config).items():
            self.cfg.set(name, value)
        if "control_socket_disable" in self.cfg.settings:  # gunicorn >= 27 opens one in $HOME
            self.cfg.set("control_socket_disable", True)

    def load(self):
        from .app import create_app  # in the worker: XGBoost and the model after the fork

        return create_app(self._config)


def main() -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        config = ServerConfig.from_environ()
    except ServerConfigError as error:
        print(f"serve: {error}", file=sys.stderr)
        sys.exit(2)
    logger.info(
        "Serving %s on port %d: %d worker(s), %d s timeout, batch transform %s, outputs %s.",
        config.model_dir,
        config.port,
        config.workers,
        config.timeout_seconds,
        "on" if config.batch else "off",
        ",".join(config.outputs) or "score",
    )
    _Server(config).run()
