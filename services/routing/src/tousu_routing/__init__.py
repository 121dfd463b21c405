"""Routing: classifies each received complaint and names the department that owns it."""
