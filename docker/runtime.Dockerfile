# syntax=docker/dockerfile:1
# The featurestream runtime image: the official Flink image plus PyFlink, featurestream[stream],
# the Maven-resolved connector jars, featurestream's own format jar and the S3 filesystem plugin.
# JobManagers, TaskManagers and the one-shot `apply` / `jobs submit` containers run it.
#
#   docker build -f docker/runtime.Dockerfile -t featurestream-runtime:0.1.0 .     (from the repo root)
#
# Versions are pinned here and compared with pyproject.toml and featurestream/stack/pom.xml by
# tests/unit/test_deploy_images.py, so the image cannot drift from what the test suite ran.
ARG FLINK_VERSION=2.2.1
ARG PYFLINK_VERSION=2.2.1
ARG PYTHON_VERSION=3.11
ARG UV_VERSION=0.9.5

# --- jars: resolved by Maven from the same pom.xml `featurestream setup` uses (never ~/.m2 of the builder),
# and featurestream's own Java (jobs/java: the `featurestream-json` source format and the
# `featurestream-redis` online sink, Jedis shaded in), built the same way
FROM maven:3.9-eclipse-temurin-17 AS jars
WORKDIR /build
COPY featurestream/stack/pom.xml featurestream/stack/settings.xml ./
RUN mvn -B -q -s settings.xml -Djars.dir=/jars package
COPY jobs/java /build/java
RUN mvn -B -q -s settings.xml -f java/pom.xml -Dbuild.dir=/build/java-target package \
    && cp /build/java-target/featurestream-java.jar /jars/flink/

# --- uv: a pinned, self-contained CPython (the Flink image's own python3 is not 3.11 everywhere)
FROM ghcr.io/astral-sh/uv:${UV_VERSION} AS uv

FROM flink:${FLINK_VERSION}-java17
ARG FLINK_VERSION
ARG PYFLINK_VERSION
ARG PYTHON_VERSION
USER root
COPY --from=uv /uv /usr/local/bin/uv
ENV UV_PYTHON_INSTALL_DIR=/opt/featurestream/python \
    VIRTUAL_ENV=/opt/featurestream/venv \
    PATH=/opt/featurestream/venv/bin:$PATH
RUN uv python install ${PYTHON_VERSION} \
    && uv venv --python ${PYTHON_VERSION} ${VIRTUAL_ENV}

WORKDIR /src
COPY pyproject.toml README.md ./
COPY featurestream featurestream
COPY api api
COPY jobs jobs
COPY online online
COPY offline offline
COPY monitoring monitoring
COPY udfs udfs
RUN uv pip install --no-cache "apache-flink==${PYFLINK_VERSION}" ".[stream]" \
    && rm -rf /src

# Connector jars on the cluster's classpath and on PyFlink's own (the planner of `apply` and the
# `flink run` client of `jobs submit` use the wheel's lib/).
COPY --from=jars /jars/flink/ /opt/featurestream/jars/flink/
RUN PYFLINK_LIB="$(python -c 'import pathlib, pyflink; print(pathlib.Path(pyflink.__file__).parent / "lib")')" \
    && cp /opt/featurestream/jars/flink/*.jar /opt/flink/lib/ \
    && cp /opt/featurestream/jars/flink/*.jar "${PYFLINK_LIB}/" \
    && mkdir -p /opt/flink/plugins/s3-fs-hadoop \
    && cp /opt/flink/opt/flink-s3-fs-hadoop-${FLINK_VERSION}.jar /opt/flink/plugins/s3-fs-hadoop/ \
    && test -f /opt/flink/opt/flink-python-${FLINK_VERSION}.jar \
    && chown -R flink:flink /opt/flink/lib /opt/flink/plugins

# The entrypoint: featurestream/entrypoints/flink.sh, the same script the local stack starts its
# JobManager and TaskManagers with (featurestream.stack.flink), so CI runs it. `jobmanager` and
# `taskmanager` exec Flink's foreground scripts with featurestream's settings; anything else
# (the operator's kubernetes-*.sh, `featurestream apply`) passes through to /docker-entrypoint.sh.
COPY --chmod=0755 featurestream/entrypoints/flink.sh /opt/featurestream/bin/flink-entrypoint.sh
ENV FEATURESTREAM_PYTHON=/opt/featurestream/venv/bin/python \
    FLINK_PLUGINS_DIR=/opt/flink/plugins
WORKDIR /opt/flink
USER flink
ENTRYPOINT ["/opt/featurestream/bin/flink-entrypoint.sh"]
CMD ["help"]
