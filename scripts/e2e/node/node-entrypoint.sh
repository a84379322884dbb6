#!/bin/sh
# Entry point of an e2e "node" container: makes it behave like a small Linux host with its own
# containerd (CRI on) and dockerd, without --privileged (this machine cannot grant it).
set -eu
# /sys comes read-only into a non-privileged container.
mount -o remount,rw /sys 2>/dev/null || true
# Fresh cgroup v1 hierarchies, rooted at this node's own cgroup (private cgroup namespace), so
# every node has its own /kubepods and /docker; cgroup v2 hosts get a fresh unified mount.
if [ -f /sys/fs/cgroup/cgroup.controllers ] || grep -q ' - cgroup2 ' /proc/self/mountinfo && ! grep -q ' - cgroup ' /proc/self/mountinfo; then
  umount -R /sys/fs/cgroup 2>/dev/null || true
  mount -t cgroup2 cgroup2 /sys/fs/cgroup
else
  umount -R /sys/fs/cgroup 2>/dev/null || true
  mount -t tmpfs -o mode=755 cgroup /sys/fs/cgroup
  for c in $(awk 'NR > 1 && $4 == 1 {print $1}' /proc/cgroups); do
    mkdir -p "/sys/fs/cgroup/$c"
    mount -t cgroup -o "$c" cgroup "/sys/fs/cgroup/$c" 2>/dev/null || rmdir "/sys/fs/cgroup/$c"
  done
  mkdir -p /sys/fs/cgroup/systemd && mount -t cgroup -o none,name=systemd cgroup /sys/fs/cgroup/systemd
fi
# /proc/sys comes read-only too; its net/ part is this node's own network namespace, so it is
# made writable (and only it: kernel/ and vm/ are the machine's and stay read-only). CNI's portmap
# plugin (hostPort) writes net.ipv4.conf.<bridge>.route_localnet there.
mount --bind /proc/sys/net /proc/sys/net && mount -o remount,bind,rw /proc/sys/net || true
# The kubelet container mounts /var/lib/kubelet rshared; / must be shared inside the node.
mount --make-rshared /
# Nothing may leave the machine: no default route; Services reach kube-proxy through eth0.
ip route del default 2>/dev/null || true
ip route add 10.96.0.0/12 dev eth0 2>/dev/null || true
[ -s /etc/machine-id ] || head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n' > /etc/machine-id
mkdir -p /run/containerd /var/log
containerd --config /etc/containerd/config.toml >/var/log/containerd.log 2>&1 &
for _ in $(seq 100); do [ -S /run/containerd/containerd.sock ] && break; sleep 0.1; done
dockerd --containerd=/run/containerd/containerd.sock --oom-score-adjust=0 --storage-driver=overlay2 \
  --bridge=none --iptables=false --ip-masq=false >/var/log/dockerd.log 2>&1 &
for _ in $(seq 100); do docker version >/dev/null 2>&1 && break; sleep 0.1; done
echo "node ready"
exec sleep infinity
