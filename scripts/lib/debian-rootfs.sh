# shellcheck shell=bash
# debian_rootfs_image NAME PACKAGES: prints the tag of a Docker image holding a Debian root file
# system (debootstrap --variant=minbase from the configured mirror, plus PACKAGES, comma-separated),
# building it only when missing. The root file system is cached outside the repository as a
# tarball keyed by suite and package list; the image is `docker import`ed from it (no registry).
debian_rootfs_image() {
  local name=$1 packages=$2 suite=${DEBIAN_SUITE:-bookworm}
  local key cache tarball image mirror rootfs lock
  key=$(printf '%s %s' "$suite" "$packages" | sha256sum | cut -c1-12)
  cache=${KUBEUP_E2E_CACHE:-/var/cache/kubeup-e2e}
  tarball="$cache/$name-$suite-$key.tar"
  image="kubeup/$name:$suite-$key"
  if docker image inspect "$image" >/dev/null 2>&1; then echo "$image"; return; fi
  mkdir -p "$cache"
  # Two harnesses building the same root file system at once wait for each other (the second
  # then finds the tarball) instead of writing one partial file together.
  exec {lock}>"$cache/$name-$suite-$key.lock"
  flock "$lock"
  if [ ! -f "$tarball" ]; then
    command -v debootstrap >/dev/null || { apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null; }
    mirror=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
    mirror=${mirror:-$(awk '/^deb / {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)}
    rootfs=$(mktemp -d)
    echo "[debian-rootfs] debootstrap $suite + $packages from $mirror" >&2
    debootstrap --variant=minbase --include="$packages" "$suite" "$rootfs" "$mirror" >&2
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* "$rootfs"/usr/share/doc "$rootfs"/usr/share/man
    tar -C "$rootfs" -cf "$tarball.partial.$$" . && mv "$tarball.partial.$$" "$tarball"
    rm -rf "$rootfs"
  fi
  docker import --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change "LABEL io.kubeup.image=$name" "$tarball" "$image" >/dev/null
  exec {lock}>&-
  echo "$image"
}
