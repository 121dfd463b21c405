"""The notify app: routers, consumers, the delivery worker and lifespan come together
here, no logic (the wiring is in :mod:`tousu_notify.bootstrap`)."""

from __future__ import annotations

from fastapi import FastAPI

from tousu_common.web import create_service_app
from tousu_notify.api.digests import router as digests_router
from tousu_notify.api.links import LINKS
from tousu_notify.api.notifications import router as notifications_router
from tousu_notify.api.subscriptions import router as subscriptions_router
from tousu_notify.bootstrap import Notify
from tousu_notify.config import Settings
from tousu_notify.entrypoints.digest_scheduler import install_scheduler


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    notify = Notify(settings)
    app = create_service_app(
        settings,
        links=LINKS,
        title="Tousu notify",
        description=(
            "Tells customers, departments, suppliers and other systems what happened: "
            "templated e-mail and SMS, signed webhooks, subscriptions, and a delivery log."
        ),
        routers=[notifications_router, subscriptions_router, digests_router],
        consumers=notify.consumers,
    )
    app.state.notify = notify
    app.router.lifespan_context = notify.lifespan(app.router.lifespan_context)
    install_scheduler(app, settings)
    return app
