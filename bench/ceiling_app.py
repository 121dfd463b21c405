"""The bare ceiling: a FastAPI endpoint that validates the same body and does nothing else.

Served by the same uvicorn with the same flags as the services, so the ratio
intake/ceiling says what our work (auth, database, outbox) costs on top of
the framework on this machine.
"""

from fastapi import FastAPI

from tousu_intake.domain.commands import ReceiveComplaint


def create_app() -> FastAPI:
    app = FastAPI()

    @app.post("/v1/complaints", status_code=201)
    async def accept(command: ReceiveComplaint) -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/v1/complaints/{complaint_id}")
    async def read(complaint_id: str) -> dict[str, str]:
        """The read ceiling (bench_console.py): a path parameter and a small JSON body."""
        return {"id": complaint_id, "status": "received"}

    return app
