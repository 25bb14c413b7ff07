"""The transactional outbox: writer, relay, dead letters and retention."""
