"""The rectification app: routers, consumers and lifespan come together here, no logic."""

from fastapi import FastAPI

from tousu_common.web import create_service_app
from tousu_rectification.api.cases import router as cases_router
from tousu_rectification.api.documents import router as documents_router
from tousu_rectification.api.links import LINKS
from tousu_rectification.api.rectifications import router as rectifications_router
from tousu_rectification.api.supplier_page import router as supplier_page_router
from tousu_rectification.api.suppliers import router as suppliers_router
from tousu_rectification.api.worklist import router as worklist_router
from tousu_rectification.bootstrap import bootstrap
from tousu_rectification.config import Settings


def create_app(settings: Settings | None = None) -> FastAPI:
    rectification = bootstrap(settings)
    app = create_service_app(
        rectification.settings,
        links=LINKS,
        title="Tousu rectification",
        description=(
            "Opens a case for every complaint.triaged and tracks the customer resolution "
            "to closing; announces case.opened."
        ),
        routers=[
            cases_router,
            rectifications_router,
            suppliers_router,
            worklist_router,
            documents_router,
            supplier_page_router,
        ],
        consumers=rectification.consumers,
    )
    app.state.rectification = rectification
    return app
