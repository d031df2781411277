#!/usr/bin/env bash
# featurestream's Flink entrypoint. One script for every place a Flink process of ours starts:
#   - the runtime image's ENTRYPOINT (docker/runtime.Dockerfile; compose's jobmanager/taskmanager),
#   - the Flink Kubernetes Operator's pods (`kubernetes.entry.path` in every rendered FlinkDeployment),
#   - the local stack's JobManager and TaskManagers (featurestream.stack.flink), so CI runs it.
#
#   flink.sh jobmanager|taskmanager [-D key=value ...]
#       Checks the featurestream runtime, then execs Flink's own `bin/<role>.sh start-foreground`
#       with featurestream's settings as dynamic properties: python.executable and
#       python.client.executable (FEATURESTREAM_PYTHON), jobmanager.rpc.address
#       (JOB_MANAGER_RPC_ADDRESS, if set) and every `key: value` line of FLINK_PROPERTIES (the
#       official image's convention). The configuration folder is FLINK_CONF_DIR (default
#       $FLINK_HOME/conf), the plugins folder FLINK_PLUGINS_DIR (default $FLINK_HOME/plugins).
#   flink.sh COMMAND [ARGS...]
#       Pass-through (the operator's kubernetes-jobmanager.sh/-taskmanager.sh, `featurestream apply`,
#       a shell): the same runtime check, then the official image's /docker-entrypoint.sh (when
#       present) or COMMAND itself.
set -euo pipefail

FLINK_HOME="${FLINK_HOME:-/opt/flink}"
export FLINK_HOME
export FLINK_CONF_DIR="${FLINK_CONF_DIR:-$FLINK_HOME/conf}"
export FLINK_PLUGINS_DIR="${FLINK_PLUGINS_DIR:-$FLINK_HOME/plugins}"
FEATURESTREAM_PYTHON="${FEATURESTREAM_PYTHON:-/opt/featurestream/venv/bin/python}"

fail() {
    echo "featurestream flink entrypoint: error: $1" >&2
    echo "  fix: $2" >&2
    exit 1
}

# The Python that runs the jobs' functions must hold PyFlink and featurestream's job modules.
[ -x "$FEATURESTREAM_PYTHON" ] || fail "FEATURESTREAM_PYTHON=$FEATURESTREAM_PYTHON is not an executable" \
    "point FEATURESTREAM_PYTHON at the runtime's python (the image's is /opt/featurestream/venv/bin/python)"
missing="$("$FEATURESTREAM_PYTHON" -c 'import importlib.util as u
print(" ".join(m for m in ("pyflink", "featurestream.jobs.runner") if u.find_spec(m) is None))')" \
    || fail "$FEATURESTREAM_PYTHON does not start" "rebuild the runtime (pip install apache-flink 'featurestream[stream]')"
[ -z "$missing" ] || fail "$FEATURESTREAM_PYTHON cannot import: $missing" \
    "install them into that Python: pip install apache-flink 'featurestream[stream]'"

# jemalloc as the official image enables it (absent locally: nothing to do)
JEMALLOC=/usr/lib/x86_64-linux-gnu/libjemalloc.so
if [ "${DISABLE_JEMALLOC:-false}" != "true" ] && [ -f "$JEMALLOC" ]; then
    export LD_PRELOAD="${LD_PRELOAD:+$LD_PRELOAD:}$JEMALLOC"
fi

role="${1:-}"
case "$role" in
    jobmanager | taskmanager)
        shift
        script="$FLINK_HOME/bin/$role.sh"
        [ -f "$script" ] || fail "$script does not exist" "set FLINK_HOME to a Flink distribution (the image's is /opt/flink)"
        [ -f "$FLINK_CONF_DIR/config.yaml" ] || fail "no config.yaml in FLINK_CONF_DIR=$FLINK_CONF_DIR" \
            "point FLINK_CONF_DIR at the cluster's configuration folder"
        dynamic=(-D "python.executable=$FEATURESTREAM_PYTHON" -D "python.client.executable=$FEATURESTREAM_PYTHON")
        if [ -n "${JOB_MANAGER_RPC_ADDRESS:-}" ]; then
            dynamic+=(-D "jobmanager.rpc.address=$JOB_MANAGER_RPC_ADDRESS")
        fi
        while IFS= read -r line; do
            line="${line#"${line%%[![:space:]]*}"}"  # leading blanks
            case "$line" in "" | "#"*) continue ;; esac
            key="${line%%:*}"
            [ "$key" != "$line" ] || fail "FLINK_PROPERTIES line '$line' is not 'key: value'" "write one 'key: value' per line"
            value="${line#*:}"
            value="${value#"${value%%[![:space:]]*}"}"
            dynamic+=(-D "$key=$value")
        done <<< "${FLINK_PROPERTIES:-}"
        echo "featurestream flink entrypoint: $role with python $FEATURESTREAM_PYTHON, conf $FLINK_CONF_DIR, plugins $FLINK_PLUGINS_DIR"
        exec bash "$script" start-foreground "${dynamic[@]}" "$@"
        ;;
    "")
        fail "no role given" "flink.sh jobmanager|taskmanager, or a command to run"
        ;;
    *)
        if [ -x /docker-entrypoint.sh ]; then
            exec /docker-entrypoint.sh "$@"
        fi
        exec "$@"
        ;;
esac
