"""The WebSocket protocol: frame models and the action dispatcher."""
