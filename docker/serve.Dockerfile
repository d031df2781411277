# syntax=docker/dockerfile:1
# The featurestream serving image: the FastAPI app on slim Python, without Java or apache-flink
# (`featurestream[serve]` only), as a non-root user, with a health check on /readyz.
#
#   docker build -f docker/serve.Dockerfile -t featurestream-serve:0.1.0 .       (from the repo root)
ARG PYTHON_VERSION=3.11

FROM python:${PYTHON_VERSION}-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY featurestream featurestream
COPY api api
COPY jobs jobs
COPY online online
COPY offline offline
COPY monitoring monitoring
COPY udfs udfs
RUN python -m venv /opt/featurestream/venv \
    && /opt/featurestream/venv/bin/pip install --no-cache-dir ".[serve]"

FROM python:${PYTHON_VERSION}-slim-bookworm
COPY --from=build /opt/featurestream/venv /opt/featurestream/venv
RUN useradd --system --uid 10001 --create-home --home-dir /home/featurestream featurestream \
    && mkdir -p /repo && chown featurestream /repo
# The entrypoint: featurestream/entrypoints/api.sh, the script bench/serving_scale.py starts its
# API processes with: `featurestream serve` for /repo, one worker, on serving.port.
COPY --chmod=0755 featurestream/entrypoints/api.sh /opt/featurestream/bin/api-entrypoint.sh
ENV PATH=/opt/featurestream/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    FEATURESTREAM_REPO=/repo
WORKDIR /repo
USER 10001
EXPOSE 6566
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:6566/readyz', timeout=2).status != 200)"]
ENTRYPOINT ["/opt/featurestream/bin/api-entrypoint.sh"]
CMD []
