#!/usr/bin/env bash
# Build the rvs image from docker/Dockerfile and check that it works; check the systemd unit.
#
#   bash docker/verify.sh            # as root, from anywhere in the repository
#
# What it checks (each step prints PASS or stops with FAIL):
#   1. the image builds (build stage: cargo build --release of rvsd and rvsadm);
#   2. `rvsd --check` accepts examples/demo.yaml in the image and rejects a broken file;
#   3. `rvsadm --help` and `rvsd --version` run in the image (every shared library found);
#   4. rvsd runs in the image with host networking and ONLY the capabilities of
#      docker/rvsd.service (no --privileged): on two net_null vdevs without hugepages, then
#      on two af_packet vdevs over a veth pair this script creates, with 2 MiB hugepages if
#      the host has free ones; each time the host reads /v1/version and /v1/services from
#      the REST API and `rvsadm -Ln` lists the service, then SIGTERM stops rvsd with exit 0;
#   5. `systemd-analyze verify` accepts docker/rvsd.service (if systemd-analyze exists).
#
# Machines without Docker Hub or the rustup servers (only Debian's mirror and crates.io):
#   - no engine running: RVS_START_DOCKERD=1 starts Debian's dockerd (apt-get install
#     docker.io) with --bridge=none --iptables=false (the builds and containers here use the
#     host's network) and stops it at the end;
#   - no debian:bookworm image: built with debootstrap from the mirror in
#     /etc/apt/sources.list* and `docker import`ed as debian:bookworm and bookworm-slim;
#   - no rust:1-bookworm image: the TEST-ONLY stand-in docker/rust-host.Dockerfile is built
#     from the toolchain of the host's `rustc` (>= 1.88) and the host's extra CA
#     certificates, and passed as RUST_IMAGE.
# Environment: DOCKER (client, default docker), RUST_IMAGE (skip the rust image step),
# RVS_DOCKER_STATE (work dir, default /var/tmp/rvs-docker), RVS_VERIFY_PORT (admin API port
# on 127.0.0.1, default 29180), RVS_IMAGE (tag, default rvs:verify).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DOCKER=${DOCKER:-docker}
STATE=${RVS_DOCKER_STATE:-/var/tmp/rvs-docker}
PORT=${RVS_VERIFY_PORT:-29180}
IMAGE=${RVS_IMAGE:-rvs:verify}
NAME=rvs-verify-$$
VETH=rvsvfy$$
# The capabilities of docker/rvsd.service, read from the unit so the two cannot drift.
CAPS=$(sed -n 's/^CapabilityBoundingSet=//p' "$ROOT/docker/rvsd.service")
STARTED_DOCKERD=

mkdir -p "$STATE"
log() { printf '%s\n' "$*"; }
pass() { printf 'PASS: %s\n' "$*"; }
fail() {
    printf 'FAIL: %s\n' "$*" >&2
    exit 1
}

cleanup() {
    "$DOCKER" rm -f "$NAME" >/dev/null 2>&1 || true
    ip link del "${VETH}a" 2>/dev/null || true
    if [ -n "$STARTED_DOCKERD" ]; then
        kill "$STARTED_DOCKERD" 2>/dev/null || true
        wait "$STARTED_DOCKERD" 2>/dev/null || true
    fi
}
trap cleanup EXIT

# A 20.10 client (Debian's docker.io) builds with BuildKit only when asked; newer ones
# use it by default when buildx is there and the legacy builder otherwise: both work.
client_major=$("$DOCKER" version --format '{{.Client.Version}}' 2>/dev/null | cut -d. -f1 || true)
if [ -n "$client_major" ] && [ "$client_major" -lt 23 ]; then
    export DOCKER_BUILDKIT=${DOCKER_BUILDKIT:-1}
fi

# --- the engine -------------------------------------------------------------------------
if ! "$DOCKER" info >/dev/null 2>&1; then
    [ "${RVS_START_DOCKERD:-0}" = 1 ] || fail "no Docker engine (docker info fails); start one, or RVS_START_DOCKERD=1"
    command -v dockerd >/dev/null || fail "dockerd not installed: apt-get install -y docker.io"
    log "starting dockerd (log: $STATE/dockerd.log)"
    dockerd --bridge=none --iptables=false --ip6tables=false >"$STATE/dockerd.log" 2>&1 &
    STARTED_DOCKERD=$!
    for _ in $(seq 60); do
        "$DOCKER" info >/dev/null 2>&1 && break
        sleep 1
    done
    "$DOCKER" info >/dev/null 2>&1 || fail "dockerd did not start: see $STATE/dockerd.log"
fi
pass "engine: $("$DOCKER" version --format 'server {{.Server.Version}}, client {{.Client.Version}}')"

# --- base images ------------------------------------------------------------------------
if ! "$DOCKER" image inspect debian:bookworm >/dev/null 2>&1 \
    && ! "$DOCKER" pull -q debian:bookworm >/dev/null 2>&1; then
    command -v debootstrap >/dev/null || fail "no debian:bookworm image and no debootstrap: apt-get install -y debootstrap"
    # Either file may be missing (deb822-only systems have no sources.list): grep's exit
    # status must not end the script under `set -e -o pipefail`.
    mirror=$({ grep -rhoE '^(URIs:|deb) +https?://[^ ]+/debian/?( |$)' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null || true; } \
        | grep -oE 'https?://[^ ]+' | head -1 || true)
    mirror=${mirror:-http://deb.debian.org/debian}
    log "building debian:bookworm with debootstrap from $mirror"
    rootfs="$STATE/rootfs"
    rm -rf "$rootfs"
    debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$STATE/debootstrap.log" 2>&1 \
        || fail "debootstrap failed: see $STATE/debootstrap.log"
    rm -f "$rootfs/etc/apt/sources.list"
    cat >"$rootfs/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: ${mirror%/}
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: ${mirror%/debian*}/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
    rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/archives/*.deb
    tar -C "$rootfs" -c . | "$DOCKER" import --change 'CMD ["bash"]' - debian:bookworm >/dev/null
    rm -rf "$rootfs"
fi
if ! "$DOCKER" image inspect debian:bookworm-slim >/dev/null 2>&1 \
    && ! "$DOCKER" pull -q debian:bookworm-slim >/dev/null 2>&1; then
    "$DOCKER" tag debian:bookworm debian:bookworm-slim
fi
pass "base images: debian:bookworm $("$DOCKER" run --rm debian:bookworm cat /etc/debian_version)"

# --- the Rust build image ---------------------------------------------------------------
if [ -z "${RUST_IMAGE:-}" ]; then
    if "$DOCKER" image inspect rust:1-bookworm >/dev/null 2>&1 \
        || "$DOCKER" pull -q rust:1-bookworm >/dev/null 2>&1; then
        RUST_IMAGE=rust:1-bookworm
    else
        sysroot=$(rustc --print sysroot) || fail "no rust:1-bookworm image and no host rustc"
        log "TEST PATH: rust:1-bookworm unreachable; stand-in from the host toolchain $sysroot"
        ctx="$STATE/rust-ctx"
        rm -rf "$ctx"
        mkdir -p "$ctx/toolchain" "$ctx/ca-certificates"
        # The host's own CAs: where HTTPS goes through an inspecting proxy, cargo needs them.
        cp /usr/local/share/ca-certificates/*.crt "$ctx/ca-certificates/" 2>/dev/null || true
        for d in bin lib libexec; do
            # Hard links when the toolchain is on the same file system: 600 MB otherwise.
            cp -al "$sysroot/$d" "$ctx/toolchain/" 2>/dev/null || cp -a "$sysroot/$d" "$ctx/toolchain/"
        done
        "$DOCKER" build --network host -q -f "$ROOT/docker/rust-host.Dockerfile" \
            -t rvs-local/rust:bookworm "$ctx" >/dev/null
        rm -rf "$ctx"
        RUST_IMAGE=rvs-local/rust:bookworm
    fi
fi
pass "rust image: $RUST_IMAGE ($("$DOCKER" run --rm "$RUST_IMAGE" rustc --version))"

# --- 1. build ---------------------------------------------------------------------------
log "building $IMAGE (log: $STATE/build.log)"
"$DOCKER" build --network host -f "$ROOT/docker/Dockerfile" --build-arg RUST_IMAGE="$RUST_IMAGE" \
    -t "$IMAGE" "$ROOT" >"$STATE/build.log" 2>&1 || {
    tail -30 "$STATE/build.log" >&2
    fail "docker build: see $STATE/build.log"
}
pass "image $IMAGE built ($("$DOCKER" image inspect -f '{{.Size}}' "$IMAGE" | awk '{ printf "%d MB", $1 / 1e6 }'))"

# --- 2. rvsd --check --------------------------------------------------------------------
"$DOCKER" run --rm "$IMAGE" --check --config /usr/share/doc/rvs/examples/demo.yaml \
    || fail "rvsd --check rejected examples/demo.yaml"
if out=$("$DOCKER" run --rm --entrypoint sh "$IMAGE" -c \
    'sed "s/scheduler: rr/scheduler: fastest/" /usr/share/doc/rvs/examples/demo.yaml >/tmp/bad.yaml
     exec rvsd --check --config /tmp/bad.yaml' 2>&1); then
    fail "rvsd --check accepted an unknown scheduler"
fi
case $out in *"unknown scheduler"*) ;; *) fail "rvsd --check: unexpected error: $out" ;; esac
pass "rvsd --check: demo.yaml valid, a bad scheduler rejected (${out%%$'\n'*})"

# --- 3. the binaries start --------------------------------------------------------------
help=$("$DOCKER" run --rm --entrypoint rvsadm "$IMAGE" --help) || fail "rvsadm --help"
case $help in "rvsadm "*) ;; *) fail "rvsadm --help: $help" ;; esac
pass "rvsadm --help: ${help%%$'\n'*}"
pass "rvsd --version: $("$DOCKER" run --rm "$IMAGE" --version)"

# --- 4. rvsd running with the unit's capabilities ----------------------------------------
cap_args=(--cap-drop ALL)
for c in $CAPS; do
    # Engines before Docker 23 do not know CAP_BPF and CAP_PERFMON (the kernel grants what
    # they allow to CAP_SYS_ADMIN too), and a sandboxed root may lack one in its own
    # bounding set: such a capability is left out, and said so.
    if ! "$DOCKER" run --rm --cap-drop ALL --cap-add "${c#CAP_}" --entrypoint true "$IMAGE" 2>/dev/null; then
        log "note: $c cannot be granted here (unknown to this engine or not held by this root): left out"
        continue
    fi
    cap_args+=(--cap-add "${c#CAP_}")
done
# LimitMEMLOCK=infinity of the unit, where this root may raise it (CAP_SYS_RESOURCE); with
# CAP_IPC_LOCK the kernel does not count locked memory against the limit anyway.
if [ "$(ulimit -Hl)" = unlimited ]; then cap_args+=(--ulimit memlock=-1:-1); fi

# run_rvsd LABEL YAML [docker args...]: start rvsd, query it from the host, stop it.
run_rvsd() {
    local label=$1 yaml=$2
    shift 2
    mkdir -p "$STATE/etc-rvs"
    printf '%s' "$yaml" >"$STATE/etc-rvs/rvs.yaml"
    # /dev/net/tun: each port's exception path is a TAP interface (on by default).
    "$DOCKER" run -d --name "$NAME" --network host "${cap_args[@]}" --device /dev/net/tun \
        -v "$STATE/etc-rvs:/etc/rvs:ro" "$@" "$IMAGE" >/dev/null
    local version=
    for _ in $(seq 60); do
        version=$(curl -fsS "http://127.0.0.1:$PORT/v1/version" 2>/dev/null) && break
        [ "$("$DOCKER" inspect -f '{{.State.Running}}' "$NAME")" = true ] || break
        sleep 0.5
    done
    if [ -z "$version" ]; then
        "$DOCKER" logs "$NAME" >&2 || true
        fail "$label: no answer on http://127.0.0.1:$PORT/v1/version"
    fi
    curl -fsS "http://127.0.0.1:$PORT/v1/services" | grep -q '198.18.0.100' \
        || fail "$label: /v1/services has no 198.18.0.100"
    local list
    list=$("$DOCKER" exec -e RVS_ADMIN="http://127.0.0.1:$PORT" "$NAME" rvsadm -Ln) \
        || fail "$label: rvsadm -Ln"
    grep -q 'TCP  198.18.0.100:80 rr' <<<"$list" || fail "$label: rvsadm -Ln: $list"
    "$DOCKER" stop -t 15 "$NAME" >/dev/null
    local code
    code=$("$DOCKER" inspect -f '{{.State.ExitCode}}' "$NAME")
    "$DOCKER" logs "$NAME" >"$STATE/rvsd-$label.log" 2>&1
    "$DOCKER" rm "$NAME" >/dev/null
    [ "$code" = 0 ] || fail "$label: rvsd exited $code after SIGTERM (log: $STATE/rvsd-$label.log)"
    pass "$label: /v1/version $version; rvsadm -Ln lists the service; SIGTERM exit 0"
}

services="services:
  - { proto: tcp, vip: 198.18.0.100, port: 80, scheduler: rr, method: masq,
      real_servers: [ { address: 198.19.0.11 }, { address: 198.19.0.12 } ] }
admin:
  listen: 127.0.0.1:$PORT
"
run_rvsd net_null "dataplane:
  worker_lcores: [1]
  eal_args: [\"--no-huge\", \"-m\", \"256\"]
  mbufs: 2047
interfaces:
  - { name: wan0, device: \"net_null0,no-rx=1\", addresses: [198.18.0.254/24] }
  - { name: lan0, device: \"net_null1,no-rx=1\", addresses: [198.19.0.254/24] }
$services"

ip link add "${VETH}a" type veth peer name "${VETH}b"
ip link set "${VETH}a" up
ip link set "${VETH}b" up
# /proc/sys is read-only in the container: what rvsd sets on a socket-PMD data port to keep
# the kernel off it (kernel_if::shield_data_port) is set on the host first, as README says.
for v in a b; do
    echo 8 >"/proc/sys/net/ipv4/conf/${VETH}$v/arp_ignore"
    echo 1 >"/proc/sys/net/ipv4/conf/${VETH}$v/rp_filter"
    [ ! -e "/proc/sys/net/ipv6/conf/${VETH}$v/disable_ipv6" ] || echo 1 >"/proc/sys/net/ipv6/conf/${VETH}$v/disable_ipv6"
done
free=$(cat /sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages 2>/dev/null || echo 0)
if [ "$free" -ge 256 ] && mountpoint -q /dev/hugepages; then
    eal='["-m", "256"]'
    huge=(-v /dev/hugepages:/dev/hugepages)
    label=af_packet+hugepages
else
    log "fewer than 256 free 2 MiB hugepages: af_packet run without hugepages"
    eal='["--no-huge", "-m", "256"]'
    huge=()
    label=af_packet
fi
run_rvsd "$label" "dataplane:
  worker_lcores: [1]
  eal_args: $eal
  mbufs: 2047
interfaces:
  - { name: wan0, device: \"net_af_packet0,iface=${VETH}a\", addresses: [198.18.0.254/24] }
  - { name: lan0, device: \"net_af_packet1,iface=${VETH}b\", addresses: [198.19.0.254/24] }
$services" "${huge[@]}"

# --- 5. the systemd unit ----------------------------------------------------------------
if command -v systemd-analyze >/dev/null; then
    # verify checks the unit's executables: a scratch root with the host's units, the unit
    # installed where the README says, and the rvsd binary taken out of the image.
    sdroot="$STATE/sdroot"
    rm -rf "$sdroot"
    mkdir -p "$sdroot/usr/lib/systemd" "$sdroot/usr/sbin" "$sdroot/bin" "$sdroot/etc/systemd/system"
    cp -a /usr/lib/systemd/system "$sdroot/usr/lib/systemd/"
    cp /bin/kill "$sdroot/bin/kill"
    cid=$("$DOCKER" create "$IMAGE")
    "$DOCKER" cp "$cid:/usr/sbin/rvsd" "$sdroot/usr/sbin/rvsd"
    "$DOCKER" rm "$cid" >/dev/null
    cp "$ROOT/docker/rvsd.service" "$sdroot/etc/systemd/system/"
    out=$(systemd-analyze verify --root="$sdroot" rvsd.service 2>&1) || fail "systemd-analyze verify: $out"
    [ -z "$out" ] || fail "systemd-analyze verify warns: $out"
    rm -rf "$sdroot"
    pass "systemd-analyze verify docker/rvsd.service: no error, no warning"
else
    log "SKIP: systemd-analyze not installed"
fi
log "all checks passed"
