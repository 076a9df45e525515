"""The FastAPI application: health, metrics, call records, and every installed
transport package's routes (see transports/packages.py)."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.types import ASGIApp

from gateway.cluster.redis_state import RedisCluster
from gateway.cluster.worker_link import PrivatePortGuard
from gateway.observe.loop_watch import watch_collector, watch_loop
from gateway.observe.metrics_merge import node_metrics
from gateway.runtime.config import Settings
from gateway.runtime.context import GatewayContext
from gateway.runtime.services import Services, build_services
from gateway.server import calls_api
from gateway.server import records_api as call_records_api
from transports.packages import installed

log = logging.getLogger(__name__)

WEB_ROOT = Path(__file__).parent.parent / "web"


_frozen = False


def _freeze_startup_objects() -> None:
    """Once per process: tests build many apps, and each freeze would pin
    whatever happened to be alive then."""
    global _frozen
    if not _frozen:
        gc.collect()
        gc.freeze()
        _frozen = True


def create_app(
    settings: Settings, services: Services | None = None, worker: dict | None = None
) -> ASGIApp:
    """`services` may be passed in so that tests share loaded models across apps;
    `worker` is this process's place among several (see gateway/server/workers.py)."""
    owned = services is None
    packages = installed(settings.enabled_carriers)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        svc = services or build_services(settings)
        await svc.start()
        cluster = None
        if settings.redis_url:
            cluster = RedisCluster(
                settings.redis_url,
                settings.node_url,
                settings.cluster_ttl_s,
                settings.cluster_max_calls,
                settings.max_calls,
                private_port=worker["private_ports"][worker["index"]] if worker else None,
            )
            await cluster.start()
        app.state.ctx = GatewayContext(settings=settings, services=svc, cluster=cluster)
        for package in packages:
            package.start(app.state.ctx)
        # Models, modules and settings live as long as the process. Left in the
        # collector's oldest generation, each full collection walks all of them:
        # measured at 20 WebRTC calls, a 48 ms pause that every call hears as a
        # late frame. Frozen, full collections walk only what calls create.
        _freeze_startup_objects()
        if worker is not None:
            app.state.ctx.worker_index = worker["index"]
            app.state.ctx.worker_ports = worker["private_ports"]
            app.state.ctx.worker_secret = worker["secret"]
        log.info("gateway ready: %s", svc.describe(settings))
        watcher = asyncio.create_task(watch_loop(app.state.ctx.metrics), name="loop-watch")
        if owned:
            watch_collector(app.state.ctx.metrics)  # once per process, not per test app
        try:
            yield
        finally:
            watcher.cancel()
            ctx = app.state.ctx
            await asyncio.gather(*(p.stop(ctx) for p in packages), return_exceptions=True)
            await ctx.aclose()
            if cluster is not None:
                await cluster.stop()
            if owned:
                svc.close()

    app = FastAPI(title="Sluice", lifespan=lifespan)

    @app.get("/healthz")
    async def healthz(request: Request) -> dict:
        ctx: GatewayContext = request.app.state.ctx
        return {"status": "ok", "calls": ctx.active_calls, "max_calls": settings.max_calls}

    @app.get("/readyz")
    async def readyz(request: Request) -> Response:
        """For a load balancer: 503 while draining, or while the cluster's Redis
        is unreachable (this node would refuse new calls)."""
        ctx: GatewayContext = request.app.state.ctx
        if ctx.draining:
            return JSONResponse({"status": "draining", "calls": ctx.active_calls}, 503)
        if ctx.cluster is not None and not ctx.cluster.healthy:
            return JSONResponse({"status": "cluster_unavailable"}, 503)
        return JSONResponse({"status": "ready", "calls": ctx.active_calls})

    @app.get("/metrics")
    async def metrics(request: Request) -> Response:
        ctx: GatewayContext = request.app.state.ctx
        own = generate_latest(ctx.metrics.registry)
        several = len(ctx.worker_ports) > 1
        if request.query_params.get("own") or not (several or settings.node_url):
            return Response(own, media_type=CONTENT_TYPE_LATEST)
        # A node of a cluster, or of several workers: one scrape covers the node.
        others = {i: p for i, p in enumerate(ctx.worker_ports) if i != ctx.worker_index}
        node = settings.node_url or f"{settings.host}:{settings.port}"
        text, missing = await node_metrics(own, node, ctx.worker_index, others, ctx.http())
        if missing:
            log.warning("metrics: %d workers did not answer this scrape", missing)
        return Response(text, media_type=CONTENT_TYPE_LATEST)

    for package in packages:
        app.include_router(package.router())
    app.include_router(call_records_api.router())
    app.include_router(calls_api.router())

    # The page, last: routes above take precedence over files.
    app.mount("/", StaticFiles(directory=WEB_ROOT, html=True), name="web")
    if worker is None:
        return PrivatePortGuard(app, None, "")
    return PrivatePortGuard(app, worker["private_ports"][worker["index"]], worker["secret"])
