"""Domain logic. No Chalice here: callable from REST, WebSocket and jobs alike."""
