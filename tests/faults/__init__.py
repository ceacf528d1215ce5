"""The fault suite: Redis, PostgreSQL and the broker stopped, hung and restarted under a running portal."""
