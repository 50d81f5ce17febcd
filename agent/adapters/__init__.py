"""Adapters behind the ports: simulator, Alpaca, persistence, alerts."""
