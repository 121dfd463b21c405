"""The console's pages, one module per area; ``ROUTERS`` is what the app mounts."""

from tousu_console.api.auth import router as auth_router
from tousu_console.api.cases import router as cases_router
from tousu_console.api.complaint_panels import router as complaint_panels_router
from tousu_console.api.complaints import router as complaints_router
from tousu_console.api.cti import router as cti_router
from tousu_console.api.department import router as department_router
from tousu_console.api.digests import router as digests_router
from tousu_console.api.home import router as home_router
from tousu_console.api.hotline import router as hotline_router
from tousu_console.api.live import router as live_router
from tousu_console.api.manager import router as manager_router
from tousu_console.api.me import router as me_router
from tousu_console.api.ops import router as ops_router
from tousu_console.api.rectifications import router as rectifications_router
from tousu_console.api.search import router as search_router
from tousu_console.api.suppliers import router as suppliers_router
from tousu_console.api.triage import router as triage_router
from tousu_console.api.worklist import router as worklist_router

ROUTERS = [
    auth_router,
    home_router,
    complaints_router,
    complaint_panels_router,
    search_router,
    worklist_router,
    department_router,
    manager_router,
    digests_router,
    ops_router,
    triage_router,
    cases_router,
    hotline_router,
    rectifications_router,
    suppliers_router,
    live_router,
    me_router,
    cti_router,
]
