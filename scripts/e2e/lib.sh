# Shared by scripts/e2e/run and scripts/e2e/kubeadm-reference (sourced): node containers on a
# private network, the user's `docker run … kubeup` line inside a node, diagnostics and cleanup.
# Everything created carries io.kubeup.e2e.run=<id> and is removed by the EXIT trap.
# shellcheck shell=bash
run_id=$(head -c4 /dev/urandom | od -An -tx1 | tr -d ' \n')
label="io.kubeup.e2e.run=$run_id"
net="kubeup-e2e-$run_id"
octet=$(( 0x${run_id:0:2} % 200 + 20 ))
subnet="172.29.$octet.0/24"
prefix="kubeup-e2e-$run_id"
ip_of() { echo "172.29.$octet.1$1"; }
work=$(mktemp -d)
ok=0
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
log() { echo "[e2e $(date +%T)] $*" >&2; }
fail() { log "FAILED: $*"; exit 1; }
in_node() { docker exec "$prefix-node$1" "${@:2}"; }

diagnose() {
  for n in $(docker ps -aq --filter "label=$label" --filter "label=io.kubeup.e2e.node"); do
    name=$(docker inspect -f '{{.Name}}' "$n" | tr -d /)
    echo "===== diagnostics of $name =====" >&2
    docker exec "$n" docker ps -a >&2 || true
    echo "--- kubelet container log (last 40 lines)" >&2
    docker exec "$n" sh -c 'docker logs --tail 40 $(docker ps -aq --filter label=io.kubeup.component=kubelet | head -n1) 2>&1' >&2 || true
    echo "--- containers in containerd (k8s.io)" >&2
    docker exec "$n" ctr -n k8s.io containers ls >&2 || true
    for f in $(docker exec "$n" sh -c 'ls /var/log/pods/*/*/*.log 2>/dev/null' || true); do
      echo "--- $f (last 15 lines)" >&2
      docker exec "$n" tail -n 15 "$f" >&2 || true
    done
  done
  if [ -s "$work/admin.conf" ]; then
    echo "===== kubectl get nodes,pods -A -o wide =====" >&2
    kubectl --kubeconfig "$work/admin.conf" --request-timeout=5s get nodes -o wide >&2 || true
    kubectl --kubeconfig "$work/admin.conf" --request-timeout=5s get pods -A -o wide >&2 || true
  fi
}
cleanup() {
  [ "$ok" = 1 ] || diagnose
  if [ "$ok" != 1 ] && [ -n "${KUBEUP_E2E_KEEP:-}" ]; then
    log "KUBEUP_E2E_KEEP is set: keeping the nodes and $net (remove with: docker rm -f \$(docker ps -aq --filter label=$label))"
    return
  fi
  ids=$(docker ps -aq --filter "label=$label")
  [ -z "$ids" ] || docker rm -f $ids >/dev/null
  docker network rm "$net" >/dev/null 2>&1 || true
  vols=$(docker volume ls -q --filter "label=$label")
  [ -z "$vols" ] || docker volume rm $vols >/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

# start_node N: a fresh node container "nodeN" at ip_of N, ready to take a `docker run`.
start_node() {
  local n=$1 name="$prefix-node$1"
  for v in docker containerd kubelet; do docker volume create --label "$label" "$name-$v" >/dev/null; done
  docker run -d --name "$name" --hostname "node$n" --network "$net" --ip "$(ip_of "$n")" --init --label "$label" --label io.kubeup.e2e.node=1 \
    --cap-add ALL --cap-drop SYS_RESOURCE --security-opt seccomp=unconfined --security-opt apparmor=unconfined \
    --cgroupns=private --device-cgroup-rule='a *:* rwm' --device /dev/kmsg --sysctl net.ipv4.ip_forward=1 --dns 127.0.0.1 \
    --tmpfs /run:rw,exec,mode=755 --tmpfs /tmp:rw,exec \
    -v "$name-docker:/var/lib/docker" -v "$name-containerd:/var/lib/containerd" -v "$name-kubelet:/var/lib/kubelet" \
    -v "$work:/images:ro" "$NODE_IMAGE" >/dev/null
  for _ in $(seq 150); do docker logs "$name" 2>&1 | grep -q "node ready" && break; sleep 0.2; done
  docker logs "$name" 2>&1 | grep -q "node ready" || fail "node $n did not come up"
  in_node "$n" docker load -q -i /images/kubeup.tar.gz >/dev/null
}

# Exactly the user's command, with this machine's privilege flags instead of --privileged.
privileged=(--cap-add ALL --cap-drop SYS_RESOURCE --security-opt seccomp=unconfined --security-opt apparmor=unconfined)
# KUBEUP_E2E_BREAK=apiserver-image makes scripts/e2e/build-images build a kube-apiserver image
# whose binary exits at once: the harness must then fail with kubeup's diagnosis.
run_kubeup() { # run_kubeup N ARGS…
  in_node "$1" docker run --rm "${privileged[@]}" --net=host --pid=host -v /:/host -v /var/run/docker.sock:/var/run/docker.sock "$KUBEUP_IMAGE" "${@:2}"
}
# run_printed N "docker run --rm --privileged … kubeup join …" EXTRA…: a printed command, as printed
# (image name and --privileged swapped for this machine's), plus EXTRA flags.
run_printed() {
  local n=$1 line=$2
  read -r -a words <<<"$line"
  local args=() seen_image=0
  for w in "${words[@]:2}"; do # skip "docker run"
    if [ "$seen_image" = 0 ] && [ "$w" = kubeup ]; then args+=("$KUBEUP_IMAGE"); seen_image=1
    elif [ "$w" = --privileged ]; then args+=("${privileged[@]}")
    else args+=("$w"); fi
  done
  in_node "$n" docker run "${args[@]}" "${@:3}"
}
# nothing_written N: the node has no kubeup file, no kubeup container, and none of the bridge
# network's traces (its CNI config, its bridge kubeup0, a cni0 bridge, routes of protocol 0x4b).
nothing_written() {
  local left
  left=$(in_node "$1" sh -c 'docker ps -aq --filter label=io.kubeup.managed; ls /etc/kubernetes /var/lib/kubeup 2>/dev/null; ls /var/lib/kubelet
    ls /etc/cni/net.d/10-kubeup-bridge.conflist 2>/dev/null; ip -o link show kubeup0 2>/dev/null; ip -o link show cni0 2>/dev/null; ip route show proto 75' || true)
  [ -z "$left" ] || fail "node $1 was changed: $left"
}

# make_bundles KUBEUP_BINARY: in $work, the air-gapped bundle of every cluster image as kubeup
# lists them (CoreDNS has no image here; see README), kubeup's own image, and kube-proxy's config.
make_bundles() {
  # The cluster images as kubeup lists them (CoreDNS has no image here; see README), and kubeup's own.
  mapfile -t images < <("$1" images list --kubernetes-version "$K8S_VERSION" --kubelet-image "$KUBELET_IMAGE" \
    --pod-network bridge --kubeup-image "$KUBEUP_IMAGE" | grep -v coredns)
  "$1" images save --docker-socket /var/run/docker.sock -o "$work/cluster.tar.gz" $(printf -- '--image %s ' "${images[@]}") >&2
  "$1" images save --docker-socket /var/run/docker.sock -o "$work/kubeup.tar.gz" --image "$KUBEUP_IMAGE" >&2
  # kube-proxy must not write the machine-wide conntrack sysctls from inside a node container.
  printf 'apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nconntrack:\n  maxPerCore: 0\n  tcpEstablishedTimeout: 0s\n  tcpCloseWaitTimeout: 0s\n' >"$work/kube-proxy.yaml"
}
