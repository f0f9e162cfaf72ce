"""kefu: serverless customer-service chat. Everything here ships to Lambda."""

__version__ = "0.1.0"
