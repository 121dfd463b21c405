"""What every Tousu service shares: event contract, outbox/inbox, settings, auth, db, logging."""
