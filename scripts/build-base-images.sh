#!/usr/bin/env bash
# Local base images for building the Dockyard container image without pulling anything.
#
#   scripts/build-base-images.sh [--force]
#
# The test machine cannot pull images, so the Dockerfile's base images are made here:
#
#   dockyard-test/bookworm:base   Debian bookworm (debootstrap --variant=minbase, imported
#                                 as dockyard-test/bookworm:minbase) plus the host's CA
#                                 certificates (see ensure_base): the stand-in for
#                                 debian:bookworm-slim (BASE_IMAGE build arg)
#   dockyard-test/node:20         that base plus the host's Node.js >= 20.19 and npm, the
#                                 stand-in for node:20-bookworm-slim (NODE_IMAGE build arg)
#
# The debootstrapped root file system is cached as a tarball under $CACHE_DIR, so a rerun
# (or a fresh engine) takes seconds; --force rebuilds the tarball too. Images are made on
# the engine at $DOCKYARD_TEST_DOCKER_HOST (default: the local socket). Must run as root
# (debootstrap). Prints the two tags as BASE_IMAGE=... and NODE_IMAGE=... on its last lines.
set -Eeuo pipefail

CACHE_DIR=${DOCKYARD_TEST_DATA_DIR:-/var/lib/dockyard-test}/base-images
SUITE=bookworm
ROOTFS_TAR=$CACHE_DIR/$SUITE-minbase.tar
MINBASE_TAG=dockyard-test/bookworm:minbase
BASE_TAG=dockyard-test/bookworm:base
NODE_TAG=dockyard-test/node:20
LABEL=io.dockyard.base-image=1
DOCKER_HOST_URL=${DOCKYARD_TEST_DOCKER_HOST:-unix:///var/run/docker.sock}
NODE_BIN=${NODE_BIN:-/usr/bin/node}
NPM_DIR=${NPM_DIR:-/usr/lib/node_modules/npm}
FORCE=0

case "${1:-}" in
  --force) FORCE=1 ;;
  "") ;;
  -h | --help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "usage: $0 [--force]" >&2; exit 2 ;;
esac

export PATH=$PATH:/usr/local/sbin:/usr/sbin:/sbin
unset DOCKER_CONTEXT DOCKER_TLS_VERIFY DOCKER_CERT_PATH
dk() { docker -H "$DOCKER_HOST_URL" "$@"; }
say() { printf '  %-9s %s\n' "$1" "$2" >&2; }
die() { printf 'build-base-images: error: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root (debootstrap)"
mkdir -p "$CACHE_DIR"
exec 9>"$CACHE_DIR/lock"
flock -w 900 9 || die "another build-base-images.sh is still running ($CACHE_DIR/lock)"

# The mirror the host itself uses (deb822 or one-line sources), else Debian's CDN.
host_mirror() {
  local uri
  uri=$(sed -n 's/^URIs:[[:space:]]*\([^[:space:]]*\).*/\1/p' /etc/apt/sources.list.d/*.sources \
    2>/dev/null | grep -v -- '-security' | head -n1 || true)
  [ -n "$uri" ] || uri=$(awk '$1 == "deb" && $0 !~ /security/ { print $2; exit }' \
    /etc/apt/sources.list 2>/dev/null || true)
  echo "${uri:-http://deb.debian.org/debian}"
}

# ---------------------------------------------------------------- bookworm rootfs
make_rootfs_tar() {
  local t0=$SECONDS dir mirror
  command -v debootstrap >/dev/null 2>&1 || {
    say debootstrap "installing the debootstrap package"
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -q \
      --no-install-recommends debootstrap >/dev/null || die "apt-get install debootstrap failed"
  }
  mirror=$(host_mirror)
  dir=$(mktemp -d "$CACHE_DIR/rootfs.XXXXXX")
  trap 'rm -rf "$dir"' EXIT
  say rootfs "debootstrap --variant=minbase $SUITE from $mirror (about a minute)"
  debootstrap --variant=minbase "$SUITE" "$dir" "$mirror" >"$CACHE_DIR/debootstrap.log" 2>&1 \
    || { tail -n 20 "$CACHE_DIR/debootstrap.log" >&2; die "debootstrap failed"; }
  # Same sources as debian:bookworm-slim (updates and security too).
  rm -f "$dir/etc/apt/sources.list"
  cat >"$dir/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $mirror
Suites: $SUITE $SUITE-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: $SUITE-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  # Slim like the official image: no package caches, docs or man pages, no host leftovers.
  cat >"$dir/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
  printf 'APT::Install-Recommends "false";\n' >"$dir/etc/apt/apt.conf.d/docker-no-recommends"
  rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/lib/apt/lists/* "$dir"/var/log/*.log \
    "$dir"/usr/share/doc/* "$dir"/usr/share/man/* "$dir/etc/hostname" "$dir/etc/resolv.conf"
  : >"$dir/etc/resolv.conf"
  tar --numeric-owner --xattrs -C "$dir" -cf "$ROOTFS_TAR.tmp" .
  mv -f "$ROOTFS_TAR.tmp" "$ROOTFS_TAR"
  rm -rf "$dir"
  trap - EXIT
  say rootfs "cached $ROOTFS_TAR ($(du -h "$ROOTFS_TAR" | cut -f1), $((SECONDS - t0)) s)"
}

# ---------------------------------------------------------------- images
image_label() { dk image inspect -f "{{ index .Config.Labels \"$2\" }}" "$1" 2>/dev/null || true; }

ensure_base() {
  local digest
  if [ "$FORCE" = 1 ] || [ ! -s "$ROOTFS_TAR" ]; then make_rootfs_tar; fi
  # The tarball's checksum is the image's identity: re-import only when it changed.
  digest=$(sha256sum "$ROOTFS_TAR" | cut -c1-16)
  if [ "$(image_label "$MINBASE_TAG" io.dockyard.rootfs)" != "$digest" ]; then
    dk import \
      --change "LABEL $LABEL" --change "LABEL io.dockyard.rootfs=$digest" \
      --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      --change 'ENV LANG=C.UTF-8' \
      --change 'CMD ["bash"]' \
      - "$MINBASE_TAG" <"$ROOTFS_TAR" >/dev/null
    say minbase "imported $MINBASE_TAG"
  fi
  # The build host's trust store: an HTTPS-intercepting egress proxy (a corporate network,
  # this sandbox) signs with its own CA, which the image build's RUN steps (apt, pip, uv,
  # npm) must trust as the host does. Local CAs are added the Debian way
  # (/usr/local/share/ca-certificates, kept when the ca-certificates package is installed)
  # and the host's bundle is the stage's bundle until then. Nothing else of the host's.
  local ctx want
  ctx=$(mktemp -d "$CACHE_DIR/base-ctx.XXXXXX")
  trap 'rm -rf "$ctx"' EXIT
  mkdir -p "$ctx/local-ca"
  find /usr/local/share/ca-certificates -maxdepth 2 -name '*.crt' -type f \
    -exec cp {} "$ctx/local-ca/" \; 2>/dev/null || true
  cp /etc/ssl/certs/ca-certificates.crt "$ctx/bundle.crt"
  want="$digest-$(cat "$ctx"/local-ca/* "$ctx/bundle.crt" 2>/dev/null | sha256sum | cut -c1-16)"
  if [ "$(image_label "$BASE_TAG" io.dockyard.base)" = "$want" ]; then
    rm -rf "$ctx"
    trap - EXIT
    say base "ok ($BASE_TAG)"
    return
  fi
  {
    echo "FROM $MINBASE_TAG"
    echo "COPY local-ca/ /usr/local/share/ca-certificates/"
    echo "COPY bundle.crt /etc/ssl/certs/ca-certificates.crt"
    echo "ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt" \
      "PIP_CERT=/etc/ssl/certs/ca-certificates.crt" \
      "NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt"
    echo "LABEL $LABEL io.dockyard.base=$want"
  } >"$ctx/Dockerfile"
  DOCKER_BUILDKIT=0 dk build -q -t "$BASE_TAG" "$ctx" >/dev/null 2>"$CACHE_DIR/base-build.log" \
    || { tail -n 20 "$CACHE_DIR/base-build.log" >&2; die "building $BASE_TAG failed"; }
  rm -rf "$ctx"
  trap - EXIT
  say base "built $BASE_TAG ($(find "/usr/local/share/ca-certificates" -name '*.crt' | wc -l) local CAs)"
}

ensure_node() {
  local version ctx want lib listing
  [ -x "$NODE_BIN" ] || die "$NODE_BIN not found: Node.js >= 20.19 is needed on the host"
  [ -f "$NPM_DIR/bin/npm-cli.js" ] || die "npm not found at $NPM_DIR"
  version=$("$NODE_BIN" --version)
  case $version in
    v2[0-9].* | v[3-9][0-9].*) ;;
    *) die "host Node.js is $version; >= 20.19 is needed" ;;
  esac
  # Identity: node version + base image; rebuilt when either changes.
  want="$version-$(dk image inspect -f '{{ .Id }}' "$BASE_TAG" | cut -c8-23)"
  if [ "$(image_label "$NODE_TAG" io.dockyard.node)" = "$want" ]; then
    say node "ok ($NODE_TAG, node $version)"
    return
  fi
  # node links only libc, libstdc++, libgcc_s, libm, libdl, libpthread: all in minbase
  # (apt itself needs libstdc++6). Check rather than assume.
  listing=$(tar -tf "$ROOTFS_TAR")
  for lib in $(ldd "$NODE_BIN" | awk '$3 ~ /^\// { print $1 }'); do
    grep -q "/$lib\$" <<<"$listing" || die "$lib (needed by node) is not in the base"
  done
  ctx=$(mktemp -d "$CACHE_DIR/node-ctx.XXXXXX")
  trap 'rm -rf "$ctx"' EXIT
  cp "$NODE_BIN" "$ctx/node"
  cp -a "$NPM_DIR" "$ctx/npm"
  cat >"$ctx/Dockerfile" <<EOF
FROM $BASE_TAG
COPY node /usr/local/bin/node
COPY npm /usr/local/lib/node_modules/npm
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \
 && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \
 && node --version && npm --version
LABEL $LABEL io.dockyard.node=$want
CMD ["node"]
EOF
  DOCKER_BUILDKIT=0 dk build -q -t "$NODE_TAG" "$ctx" >/dev/null 2>"$CACHE_DIR/node-build.log" \
    || { tail -n 20 "$CACHE_DIR/node-build.log" >&2; die "building $NODE_TAG failed"; }
  rm -rf "$ctx"
  trap - EXIT
  say node "built $NODE_TAG (node $version)"
}

t0=$SECONDS
ensure_base
ensure_node
say "done" "$((SECONDS - t0)) s"
echo "BASE_IMAGE=$BASE_TAG"
echo "NODE_IMAGE=$NODE_TAG"
