"""python -m relay_agent [port]: serve the app on 127.0.0.1."""

import sys

import uvicorn

from relay_agent.app import app

uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]) if len(sys.argv) > 1 else 8090)
