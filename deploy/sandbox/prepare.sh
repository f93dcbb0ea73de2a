#!/usr/bin/env bash
# Make this host able to run the code_interpreter sandbox, both backends: install the Docker
# engine, bubblewrap and debootstrap when missing, start a private dockerd, build the
# Debian base rootfs (cached as a tar under /var/cache/treadle; bubblewrap binds its
# extracted copy read-only) and the sandbox image. Idempotent: with the cache warm and the
# engine up it takes seconds. Prints the environment the sandbox and its tests need.
# --bwrap-only: bubblewrap and the Debian root alone (what `treadle up` prepares by itself).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
bwrap_only=false
[[ ${1:-} == --bwrap-only ]] && bwrap_only=true

cache=/var/cache/treadle
socket=/run/treadle-docker.sock
image=treadle-sandbox:latest
packages=python3-minimal,python3,python3-numpy,python3-pandas,python3-matplotlib,python3-pil,python3-scipy,python3-sympy,python3-openpyxl,fonts-dejavu-core
# The base's name carries a digest of what went into it, so changing the list rebuilds it.
base_id=$(echo "bookworm $packages" | sha256sum | cut -c1-12)
rootfs=$cache/rootfs-$base_id
base=treadle-sandbox-base:$base_id
log() { echo "prepare.sh: $*" >&2; }
# One preparation at a time on this host (`treadle up` may start one beside `make sandbox`);
# what outlives the script (dockerd) must not inherit the lock.
exec 9>/var/lock/treadle-prepare.lock
flock 9

missing=()
$bwrap_only || command -v dockerd >/dev/null || missing+=(docker.io)
command -v bwrap >/dev/null || missing+=(bubblewrap)
command -v debootstrap >/dev/null || missing+=(debootstrap)
if ((${#missing[@]})); then
    log "installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

export DOCKER_HOST=unix://$socket
if ! $bwrap_only && ! docker version >/dev/null 2>&1; then
    log "starting dockerd on $socket"
    mkdir -p /var/log/treadle
    # No bridge and no iptables: sandbox containers run with --network none only.
    nohup dockerd --bridge=none --iptables=false --ip-forward=false \
        --data-root /var/lib/treadle-docker --exec-root /run/treadle-docker \
        --pidfile /run/treadle-docker.pid -H "$DOCKER_HOST" \
        >/var/log/treadle/dockerd.log 2>&1 9>&- &
    for _ in $(seq 1 60); do docker version >/dev/null 2>&1 && break; sleep 0.5; done
    docker version >/dev/null
fi

mkdir -p "$cache"
if [[ ! -f $rootfs.tar ]]; then
    log "building the base rootfs with debootstrap (a few minutes)"
    rm -rf "$rootfs.build"
    debootstrap --variant=minbase --include="$packages" bookworm "$rootfs.build" \
        http://deb.debian.org/debian >/var/log/treadle-debootstrap.log 2>&1 \
        || { tail -20 /var/log/treadle-debootstrap.log >&2; exit 1; }
    # Package caches and lists are dead weight in a read-only sandbox.
    rm -rf "$rootfs.build"/var/cache/apt/archives/*.deb "$rootfs.build"/var/lib/apt/lists/*
    mkdir -p "$rootfs.build/mnt/data" "$rootfs.build/run/treadle"
    tar -C "$rootfs.build" -cf "$rootfs.tar.part" . && mv "$rootfs.tar.part" "$rootfs.tar"
    rm -rf "$rootfs"
    mv "$rootfs.build" "$rootfs"
fi
if [[ ! -d $rootfs ]]; then
    log "extracting the cached rootfs for bubblewrap"
    mkdir -p "$rootfs.build" && tar -C "$rootfs.build" -xf "$rootfs.tar" && mv "$rootfs.build" "$rootfs"
fi
ln -sfn "$rootfs" "$cache/rootfs"
if $bwrap_only; then
    echo "export TREADLE_SANDBOX_ROOTFS=$cache/rootfs"
    exit 0
fi

if ! docker image inspect "$base" >/dev/null 2>&1; then
    log "importing $base"
    docker import "$rootfs.tar" "$base" >/dev/null
fi
image_id=$( (echo "$base"; cat "$here/Dockerfile") | sha256sum | cut -c1-12)
if [[ $(docker image inspect -f '{{index .Config.Labels "treadle.build"}}' "$image" 2>/dev/null) != "$image_id" ]]; then
    log "building $image"
    DOCKER_BUILDKIT=0 docker build -q --network none --build-arg "BASE=$base" \
        --label "treadle.build=$image_id" -t "$image" "$here" >/dev/null
fi

echo "export TREADLE_SANDBOX_DOCKER_HOST=$DOCKER_HOST"
echo "export TREADLE_SANDBOX_IMAGE=$image"
echo "export TREADLE_SANDBOX_ROOTFS=$cache/rootfs"
