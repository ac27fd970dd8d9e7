# xcads as a container: `xcads migrate`, then `xcads serve` on port 8080 as an unprivileged user.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /opt/xcads
COPY pyproject.toml README.md LICENSE ./
COPY registry ./registry
COPY repository ./repository
COPY mhd ./mhd
COPY gateway ./gateway
COPY conformance ./conformance
RUN pip install . \
    && useradd --system --uid 10001 --user-group --home-dir /var/lib/xcads --create-home xcads

USER xcads
# The embedded default keeps its data here; with PostgreSQL and S3 configured it stays empty.
ENV XCADS_DATA_DIR=/var/lib/xcads
VOLUME ["/var/lib/xcads"]
EXPOSE 8080

HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/health', timeout=2)"]

CMD ["sh", "-c", "xcads migrate && exec xcads serve --host 0.0.0.0 --port 8080"]
