#!/usr/bin/env sh
# featurestream's API entrypoint: the serving image's ENTRYPOINT (docker/serve.Dockerfile; compose's
# `api`, the Kubernetes Deployment in docker/k8s/api.yaml) and what bench/serving_scale.py starts
# its API processes with.
#
#   api.sh [serve options...]   featurestream serve for the repo FEATURESTREAM_REPO (default /repo),
#                               ONE worker process (each worker keeps its own Prometheus registry;
#                               scale with replicas), bound to FEATURESTREAM_SERVING_HOST
#                               (default 0.0.0.0) on serving.port (FEATURESTREAM_SERVING_PORT,
#                               default 6566). Options given are appended (e.g. --insecure).
#   api.sh COMMAND [ARGS...]    runs COMMAND instead (e.g. `featurestream apply`, a shell).
set -eu

case "${1:-}" in
    "" | -*)
        repo="${FEATURESTREAM_REPO:-/repo}"
        [ -d "$repo" ] || {
            echo "featurestream api entrypoint: error: FEATURESTREAM_REPO=$repo is not a directory" >&2
            echo "  fix: mount the feature repo (its featurestream.yaml) there, or set FEATURESTREAM_REPO" >&2
            exit 1
        }
        exec featurestream --repo "$repo" serve --host "${FEATURESTREAM_SERVING_HOST:-0.0.0.0}" --workers 1 "$@"
        ;;
    *)
        exec "$@"
        ;;
esac
