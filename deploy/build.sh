#!/usr/bin/env bash
# Build Treadle's application image without a registry:
#   1. a Debian bookworm base made with debootstrap and `docker import`ed;
#   2. a wheelhouse of the project's pinned dependencies, fetched on this host with pip;
#   3. `docker build` of deploy/Dockerfile from the working tree plus that wheelhouse.
# Each step is skipped when its inputs are unchanged, so a second build takes seconds.
#
#   deploy/build.sh            # tags treadle:latest (TREADLE_IMAGE overrides)
#
# Environment: DOCKER_HOST (the engine to build on), TREADLE_CACHE (default
# /var/cache/treadle), TREADLE_IMAGE, PYTHON (the host Python whose pip fetches the
# wheels, default .venv/bin/python).
set -euo pipefail
cd "$(dirname "$0")/.."

CACHE=${TREADLE_CACHE:-/var/cache/treadle}
IMAGE=${TREADLE_IMAGE:-treadle:latest}
PYTHON=${PYTHON:-.venv/bin/python}
# What the image needs from Debian; the rest comes as wheels.
BASE_PACKAGES=python3,python3-venv,ca-certificates,passwd
BASE_KEY=$(printf 'bookworm minbase %s' "$BASE_PACKAGES" | sha256sum | cut -c1-12)
BASE_TAR=$CACHE/app-base-bookworm-$BASE_KEY.tar
BASE_IMAGE=treadle-app-base:$BASE_KEY
WHEELS=$CACHE/wheels
# The python3 that debootstrap installs from bookworm.
IMAGE_PYTHON=3.11.2

step() { printf '[build %s] %s\n' "$(date +%T)" "$*"; }

build_base() {
    if docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
        step "base image $BASE_IMAGE present"
        return
    fi
    if [ ! -s "$BASE_TAR" ]; then
        command -v debootstrap >/dev/null || apt-get install -y debootstrap
        local root
        root=$(mktemp -d "$CACHE/app-base-root.XXXXXX")
        step "debootstrap bookworm ($BASE_PACKAGES) into $root"
        debootstrap --variant=minbase --include="$BASE_PACKAGES" bookworm "$root" \
            http://deb.debian.org/debian >"$root.log" 2>&1 \
            || { tail -n 20 "$root.log" >&2; rm -rf "$root"; exit 1; }
        # apt lists and package archives are dead weight in an image.
        rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
        tar -C "$root" -cf "$BASE_TAR.partial" .
        mv "$BASE_TAR.partial" "$BASE_TAR"
        rm -rf "$root" "$root.log"
    fi
    step "docker import $BASE_TAR as $BASE_IMAGE"
    docker import "$BASE_TAR" "$BASE_IMAGE" >/dev/null
}

build_wheels() {
    # Keyed by pyproject.toml (the pins live there) and the interpreter it is resolved for.
    local key
    key=$({ cat pyproject.toml; echo "python $IMAGE_PYTHON"; } | sha256sum | cut -c1-64)
    if [ "$(cat "$WHEELS/.key" 2>/dev/null)" = "$key" ]; then
        step "wheelhouse $WHEELS up to date"
        return
    fi
    step "wheels of the pinned dependencies into $WHEELS"
    rm -rf "$WHEELS" && mkdir -p "$WHEELS"
    # setuptools builds the project itself inside the image. pip evaluates dependency
    # markers for the host's Python even with --python-version, so what bookworm's 3.11.2
    # needs beyond a newer 3.11 is listed here: async-timeout (redis, Python < 3.11.3).
    "$PYTHON" - >"$WHEELS/requirements.txt" <<'EOF'
import tomllib
project = tomllib.load(open("pyproject.toml", "rb"))
print("\n".join(project["project"]["dependencies"] + project["build-system"]["requires"]))
print("async-timeout>=4.0.3")
EOF
    # Requires-Python is checked against the image's interpreter: some newer releases
    # refuse 3.11.2 (>= 3.11.5). Binary wheels only: nothing is compiled on this host.
    local platforms=()
    for tag in manylinux_2_{36,35,34,28,27,24,17}_x86_64 manylinux2014_x86_64 \
            manylinux2010_x86_64 manylinux1_x86_64 linux_x86_64; do
        platforms+=(--platform "$tag")
    done
    "$PYTHON" -m pip download --quiet --dest "$WHEELS" --only-binary=:all: \
        --python-version "$IMAGE_PYTHON" --implementation cp --abi cp311 --abi abi3 \
        --abi none "${platforms[@]}" -r "$WHEELS/requirements.txt" 2>&1 \
        | { grep -v '^WARNING: Location' || true; }
    echo "$key" >"$WHEELS/.key"
}

build_image() {
    step "docker build $IMAGE"
    # The context is the working tree (tracked and untracked files, minus .gitignore'd
    # ones such as virtualenvs) plus the wheelhouse, streamed as one tar.
    local list
    list=$(mktemp)
    git ls-files -z --cached --others --exclude-standard --deduplicate \
        | while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done >"$list"
    # BuildKit would want a frontend image from a registry; the legacy builder's notice
    # that it is deprecated is dropped, its errors are not.
    tar -cf - --null -T "$list" -C "$CACHE" wheels \
        | DOCKER_BUILDKIT=0 docker build --quiet --force-rm --build-arg BASE_IMAGE="$BASE_IMAGE" \
            -f deploy/Dockerfile -t "$IMAGE" - 2>&1 >/dev/null \
        | { grep -v -e DEPRECATED -e 'BuildKit is currently' -e 'environment-variable' \
                -e '^$' >&2 || true; }
    rm -f "$list"
}

mkdir -p "$CACHE"
build_base
build_wheels
build_image
step "built $IMAGE"
