"""Scheduled work: bounded and idempotent (EventBridge may deliver an invocation twice)."""
