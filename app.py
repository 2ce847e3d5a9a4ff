"""Serve the MCOF assistant in the browser: `python app.py [--host H] [--port P]`.

Listens on 127.0.0.1:7860 unless told otherwise (flags, or MCOF_HOST / MCOF_PORT); every
other setting comes from the environment (assistant/config.py). Indexes the corpus first
when there is no index yet.
"""

from __future__ import annotations

import argparse
import logging
import socket
import sys
import threading
from collections.abc import Sequence

from assistant.cli import _anchor_to_project
from assistant.config import Settings, set_offline_env
from assistant.errors import ConfigError, McofError

log = logging.getLogger("mcof.app")


def main(argv: Sequence[str] | None = None) -> int:
    set_offline_env()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", help="address to listen on (env MCOF_HOST, default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port to listen on (env MCOF_PORT, default 7860)")
    args = parser.parse_args(argv)
    try:
        settings = _anchor_to_project(Settings.from_env(host=args.host, port=args.port))
        logging.basicConfig(level=getattr(logging, settings.log_level.upper(), logging.WARNING),
                            format="%(levelname)s %(name)s: %(message)s")
        from assistant.service import build_assistant
        from assistant.ui import credentials, listen_problem, serve

        credentials(settings)  # a malformed MCOF_AUTH or MCOF_AUTH_FILE stops the app before anything loads
        reason = _cannot_bind(settings.host, settings.port)
        if reason:  # said before the index and the model are loaded
            raise ConfigError(listen_problem(settings.host, settings.port, reason))

        assistant = build_assistant(settings)
        if not assistant.has_index() and settings.corpus_dir.is_dir():
            log.warning("no index yet: ingesting %s first", settings.corpus_dir)
            assistant.ingest(progress=sys.stderr.isatty())
        # the first requests should not all wait for the model and the index to load
        threading.Thread(target=assistant.warm_up, name="warm-up", daemon=True).start()
        serve(assistant, settings)
    except McofError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    return 0


def _cannot_bind(host: str, port: int) -> str:
    """Why the app could not listen on host:port ("" when it can), e.g. "Address already in use"."""
    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OSError as exc:
        return exc.strerror or str(exc)
    return ""


if __name__ == "__main__":
    sys.exit(main())
