"""The intake app's entry point (``uvicorn --factory tousu_intake.main:create_app``);
the wiring itself is :mod:`tousu_intake.bootstrap`'s."""

from fastapi import FastAPI

from tousu_intake.bootstrap import bootstrap
from tousu_intake.config import Settings


def create_app(settings: Settings | None = None) -> FastAPI:
    return bootstrap(settings or Settings())
