#!/usr/bin/env bash
# `make e2e-distributed`: install the servers Debian provides where they are missing, give the
# core services and each Celery worker a network namespace of its own, then run the harness
# (tests/e2e_distributed) inside the core namespace. Usage: scripts/e2e_distributed.sh PYTHON
#
# Topology (all inside namespaces made here; nothing listens outside them):
#   <tag>-core  PostgreSQL, Redis, moto (S3), the Luma emulator, api-server, scheduler,
#               dag-processor, two triggerers and the harness itself; bridge at 10.111.0.1/24
#   <tag>-w1    Celery worker 1 at 10.111.0.2, reaching the core through a veth on the bridge
#   <tag>-w2    Celery worker 2 at 10.111.0.3
# Where namespaces cannot be made (no CAP_NET_ADMIN), everything runs on loopback and each worker
# still gets its own AIRFLOW_HOME, working directory and hostname (UTS namespace).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${1:?usage: $0 PYTHON}
TAG=${LUMA_DIST_TAG:-ld$$}

# -- servers from Debian -------------------------------------------------------------------------
missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
command -v ip >/dev/null || missing+=(iproute2)
command -v unshare >/dev/null || missing+=(util-linux)
if ! command -v initdb >/dev/null && ! compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then
    missing+=(postgresql)
fi
if ((${#missing[@]})); then
    echo "e2e-distributed: installing ${missing[*]} from Debian"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
if ! command -v initdb >/dev/null; then
    PG_BIN=$(dirname "$(ls -d /usr/lib/postgresql/*/bin/initdb | sort -V | tail -1)")
    export PATH="$PG_BIN:$PATH"
fi

# -- network namespaces --------------------------------------------------------------------------
CORE=$TAG-core
cleanup() {
    for ns in "$TAG-w1" "$TAG-w2" "$CORE"; do
        if ip netns list 2>/dev/null | grep -qw "$ns"; then
            for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
            ip netns del "$ns" 2>/dev/null || true
        fi
    done
}
make_namespaces() {
    ip netns add "$CORE"
    ip -n "$CORE" link set lo up
    ip -n "$CORE" link add "${TAG}br" type bridge
    ip -n "$CORE" addr add 10.111.0.1/24 dev "${TAG}br"
    ip -n "$CORE" link set "${TAG}br" up
    for i in 1 2; do
        ip netns add "$TAG-w$i"
        ip -n "$TAG-w$i" link set lo up
        ip -n "$CORE" link add "${TAG}h$i" type veth peer name "${TAG}g$i" netns "$TAG-w$i"
        ip -n "$CORE" link set "${TAG}h$i" master "${TAG}br" up
        ip -n "$TAG-w$i" addr add "10.111.0.$((i + 1))/24" dev "${TAG}g$i"
        ip -n "$TAG-w$i" link set "${TAG}g$i" up
    done
}
trap cleanup EXIT
trap "exit 143" INT TERM

PYTEST=("$PYTHON" -m pytest tests/e2e_distributed -q -p no:cacheprovider -rxX --timeout=1800)
if make_namespaces 2>/tmp/"$TAG"-netns.err; then
    echo "e2e-distributed: core in netns $CORE (10.111.0.1), workers in $TAG-w1 and $TAG-w2"
    ip netns exec "$CORE" env LUMA_E2E_DISTRIBUTED=1 LUMA_DIST_CORE_ADDRESS=10.111.0.1 \
        LUMA_DIST_WORKER_NETNS="$TAG-w1 $TAG-w2" PATH="$PATH" "${PYTEST[@]}"
else
    echo "e2e-distributed: no network namespaces here ($(cat /tmp/"$TAG"-netns.err)); loopback only"
    cleanup
    env LUMA_E2E_DISTRIBUTED=1 LUMA_DIST_CORE_ADDRESS=127.0.0.1 LUMA_DIST_WORKER_NETNS="" "${PYTEST[@]}"
fi
