#!/bin/sh
# Entry point of kubeup's kubelet image: prepares what a containerized kubelet needs, then
# becomes the kubelet (exec), so signals and the exit code are the kubelet's own.
set -eu

# iptables: use the backend the host already uses (kube-proxy and CNI plugins must agree with
# it); nft when the host has no rules yet.
mode=nft
if iptables-legacy-save 2>/dev/null | grep -q '^-A'; then mode=legacy; fi
if iptables-nft-save 2>/dev/null | grep -q '^-A'; then mode=nft; fi
for t in iptables ip6tables; do
  update-alternatives --set "$t" "/usr/sbin/$t-$mode" >/dev/null 2>&1 || true
done

# The kubelet's volume mounts must reach the host and the runtime: /var/lib/kubelet has to be a
# shared mount in here. Refuse clearly instead of failing later with unmountable volumes.
if ! awk '$5 == "/var/lib/kubelet"' /proc/self/mountinfo | grep -q 'shared:'; then
  echo "kubelet-entrypoint: /var/lib/kubelet is not a shared mount in this container;" \
       "run \`kubeup init\` (its prepare-host phase makes it shared) or \`mount --make-rshared /\` on the host" >&2
  exit 1
fi

# Kernel settings the kubelet insists on (kubelet <= 1.2x writes them at start). Where /proc/sys
# is read-only (nested hosts), present the wanted values in this container's mount namespace
# only; the host's own values are never written from here.
if awk '$5 == "/proc/sys" && $6 ~ /(^|,)ro(,|$)/' /proc/self/mountinfo | grep -q .; then
  mkdir -p /run/kubeup-sysctl
  for kv in vm/overcommit_memory=1 kernel/panic=10 kernel/panic_on_oops=1; do
    key=${kv%%=*}; want=${kv#*=}
    if [ "$(cat "/proc/sys/$key")" != "$want" ]; then
      f="/run/kubeup-sysctl/$(echo "$key" | tr / _)"
      echo "$want" > "$f"
      mount --bind "$f" "/proc/sys/$key"
    fi
  done
fi

exec /usr/bin/kubelet "$@"
