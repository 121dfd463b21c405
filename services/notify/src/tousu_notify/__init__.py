"""Notify: tells customers and departments what happened to a complaint."""
