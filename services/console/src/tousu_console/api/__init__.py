"""The console's pages, one module per area; ``ROUTERS`` is what the app mounts."""

from tousu_console.api.auth import router as auth_router
from tousu_console.api.complaints import router as complaints_router
from tousu_console.api.cti import router as cti_router
from tousu_console.api.home import router as home_router
from tousu_console.api.live import router as live_router
from tousu_console.api.me import router as me_router
from tousu_console.api.worklist import router as worklist_router

ROUTERS = [
    auth_router,
    home_router,
    complaints_router,
    worklist_router,
    live_router,
    me_router,
    cti_router,
]
