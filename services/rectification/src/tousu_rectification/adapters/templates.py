"""Jinja2 templates of the rectification service (documents and the supplier page)."""

from __future__ import annotations

from functools import cache
from importlib.resources import files

from jinja2 import Environment, PackageLoader, select_autoescape


@cache
def environment() -> Environment:
    return Environment(
        loader=PackageLoader("tousu_rectification", "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )


@cache
def document_css() -> str:
    return files("tousu_rectification").joinpath("templates/_document.css").read_text("utf-8")


def render(name: str, **context: object) -> str:
    return environment().get_template(name).render(**context)
