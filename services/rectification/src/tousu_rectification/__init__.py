"""Rectification: the case that tracks a complaint's resolution (顾客解决方案) to closing."""
