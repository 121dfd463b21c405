"""Weekly and monthly digests (业务运作情况周报/月报), SPEC §4.

Notify keeps its own read model of every complaint's life from the events it
consumes (``readmodel``), computes the KPIs of a period from it (``kpis``),
renders them as JSON, CSV and an HTML report with charts (``render``,
``charts``), stores and publishes them once per period (``service``,
``scheduler``) and serves them (``views``).
"""
