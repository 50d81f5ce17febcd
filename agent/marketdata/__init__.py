"""Market data services: the request-rate governor, the TTL cache, IV history, scan inputs."""
