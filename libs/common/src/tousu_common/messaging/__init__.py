"""Transactional outbox (publishing) and idempotent inbox (consuming) over Kafka."""
