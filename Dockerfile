# optagent: one image for the head and worker nodes of a Ray cluster.
# Build: docker build -t optagent .   Run (simulator): docker run --rm -p 8265:8265 optagent run
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    NUMBA_CACHE_DIR=/app/var/numba-cache \
    RAY_USAGE_STATS_ENABLED=0

WORKDIR /app
RUN useradd --create-home --uid 10001 optagent

# Dependencies first (pinned by constraints.txt) so code changes do not reinstall them.
COPY pyproject.toml constraints.txt README.md ./
COPY agent ./agent
COPY actors ./actors
RUN pip install --no-cache-dir -c constraints.txt .

COPY config.yaml ray_cluster.yaml ./
RUN mkdir -p /app/var && chown -R optagent:optagent /app/var
USER 10001

# 8265: Ray dashboard; 8787: the Alpaca-compatible simulator server (optagent sim-server).
EXPOSE 8265 8787
HEALTHCHECK --interval=30s --timeout=5s CMD ["optagent", "config", "check"]
ENTRYPOINT ["optagent"]
CMD ["run"]
