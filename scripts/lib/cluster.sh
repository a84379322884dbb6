# shellcheck shell=bash
# Node containers on a private Docker network, and kubeup run in them exactly as a user runs it:
# the one implementation behind scripts/local-cluster (a cluster people try) and scripts/e2e/*
# (the clusters CI proves). Sourced; `cluster_vars NAME` must be called first.
#
# Everything created carries io.kubeup.cluster=NAME (and $extra_label when set), so a cluster is
# removed by its label and nothing else is ever touched. Nodes get no default route and no DNS:
# nothing leaves the machine.

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
log() { echo "[${log_tag:-cluster} $(date +%T)] $*" >&2; }
fail() { log "FAILED: $*"; exit 1; }

# cluster_vars NAME [WORK_DIR]: the names, label, network and subnet of cluster NAME, and a
# working directory for its outputs (init.out, admin.conf…).
cluster_vars() {
  cluster_name=$1
  label="io.kubeup.cluster=$cluster_name"
  net="kubeup-$cluster_name"
  prefix="kubeup-$cluster_name"
  [ "$cluster_name" != kubeup ] || prefix=kubeup
  local h
  h=$(printf '%s' "$cluster_name" | sha256sum | cut -c1-4)
  octet=$(( 0x$h % 200 + 20 ))
  subnet="172.29.$octet.0/24"
  work=${2:-$(mktemp -d)}
}
ip_of() { echo "172.29.$octet.1$1"; }
in_node() { docker exec "$prefix-node$1" "${@:2}"; }

# The machine's privilege flags instead of --privileged (the bounding set may lack a capability).
privileged=(--cap-add ALL --cap-drop SYS_RESOURCE --security-opt seccomp=unconfined --security-opt apparmor=unconfined)

# cluster_network: the cluster's private network (no masquerade: nothing leaves the machine). Its
# subnet follows from the name; one taken by another network moves to the next free one.
cluster_network() {
  local tries=0
  until docker network create --label "$label" ${extra_label:+--label "$extra_label"} --subnet "$subnet" \
    -o com.docker.network.bridge.enable_ip_masquerade=false "$net" >/dev/null 2>"$work/network.err"; do
    grep -q "overlap" "$work/network.err" && [ $((tries += 1)) -lt 200 ] || fail "docker network create $net: $(cat "$work/network.err")"
    octet=$(( (octet - 20 + 1) % 200 + 20 ))
    subnet="172.29.$octet.0/24"
  done
}

# start_node N: a fresh node container "nodeN" at ip_of N with its own dockerd and containerd,
# kubeup's image loaded into its Docker.
start_node() {
  local n=$1 name="$prefix-node$1"
  local labels=(--label "$label" --label io.kubeup.node=1)
  [ -z "${extra_label:-}" ] || labels+=(--label "$extra_label")
  for v in docker containerd kubelet; do docker volume create "${labels[@]}" "$name-$v" >/dev/null; done
  docker run -d --name "$name" --hostname "node$n" --network "$net" --ip "$(ip_of "$n")" --init "${labels[@]}" \
    "${privileged[@]}" \
    --cgroupns=private --device-cgroup-rule='a *:* rwm' --device /dev/kmsg --sysctl net.ipv4.ip_forward=1 --dns 127.0.0.1 \
    --tmpfs /run:rw,exec,mode=755 --tmpfs /tmp:rw,exec \
    -v "$name-docker:/var/lib/docker" -v "$name-containerd:/var/lib/containerd" -v "$name-kubelet:/var/lib/kubelet" \
    -v "$images_dir:/images:ro" "$NODE_IMAGE" >/dev/null
  for _ in $(seq 150); do docker logs "$name" 2>&1 | grep -q "node ready" && break; sleep 0.2; done
  docker logs "$name" 2>&1 | grep -q "node ready" || fail "node $n did not come up"
  in_node "$n" docker load -q -i /images/kubeup.tar.gz >/dev/null
}

# remove_node N: the node container and its volumes.
remove_node() {
  docker rm -f "$prefix-node$1" >/dev/null 2>&1 || true
  for v in docker containerd kubelet; do docker volume rm "$prefix-node$1-$v" >/dev/null 2>&1 || true; done
}

run_kubeup() { # run_kubeup N ARGS…: the user's command in node N
  in_node "$1" docker run --rm "${privileged[@]}" --net=host --pid=host -v /:/host -v /var/run/docker.sock:/var/run/docker.sock "$KUBEUP_IMAGE" "${@:2}"
}

# run_printed N "docker run --rm --privileged … kubeup join …" EXTRA…: a printed command, as
# printed (image name and --privileged swapped for this machine's), plus EXTRA flags.
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

# make_bundles KUBEUP_BINARY: sets images_dir to a directory holding the air-gapped bundle of
# every cluster image as kubeup lists them (CoreDNS has no image here; see README), kubeup's own
# image and kube-proxy's config. Bundles are cached outside the repository, keyed by the IDs of the
# images they hold (a rebuilt image makes a new bundle); the newest three are kept.
make_bundles() {
  local images key ids cache
  mapfile -t images < <("$1" images list --kubernetes-version "$K8S_VERSION" --kubelet-image "$KUBELET_IMAGE" \
    --pod-network bridge --kubeup-image "$KUBEUP_IMAGE" | grep -v coredns)
  ids=$(docker image inspect -f '{{.Id}}' "${images[@]}" "$KUBEUP_IMAGE") || fail "an image of the bundle is missing"
  key=$(printf '%s\n' "${images[@]}" "$ids" | sha256sum | cut -c1-16)
  # KUBEUP_E2E_BUNDLES: a bundle directory of a run's own (a run whose kubeup image is not the
  # shared one must not prune the bundles other runs are using).
  cache=${KUBEUP_E2E_BUNDLES:-${KUBEUP_E2E_CACHE:-/var/cache/kubeup-e2e}/bundles}
  images_dir="$cache/$key"
  if [ ! -s "$images_dir/kubeup.tar.gz" ]; then
    log "saving the image bundles (${#images[@]} images; about 30 s)"
    mkdir -p "$images_dir.partial"
    "$1" images save --docker-socket /var/run/docker.sock -o "$images_dir.partial/cluster.tar.gz" $(printf -- '--image %s ' "${images[@]}") >&2
    "$1" images save --docker-socket /var/run/docker.sock -o "$images_dir.partial/kubeup.tar.gz" --image "$KUBEUP_IMAGE" >&2
    # kube-proxy must not write the machine-wide conntrack sysctls from inside a node container.
    printf 'apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nconntrack:\n  maxPerCore: 0\n  tcpEstablishedTimeout: 0s\n  tcpCloseWaitTimeout: 0s\n' \
      >"$images_dir.partial/kube-proxy.yaml"
    rm -rf "$images_dir" && mv "$images_dir.partial" "$images_dir"
  fi
  touch "$images_dir"
  # shellcheck disable=SC2012 # names are hex keys
  ls -1dt "$cache"/*/ | tail -n +4 | xargs -r rm -rf
}

# cluster_init N [EXTRA…]: `kubeup init` on node N with the bridge network, the bundle and
# kube-proxy's config; its output in $work/init.out, the printed worker and control-plane join
# lines in $work/join-worker and $work/join-control-plane.
cluster_init() {
  local n=$1
  run_kubeup "$n" init --kubernetes-version "$K8S_VERSION" --apiserver-advertise-address "$(ip_of "$n")" --node-name "node$n" \
    --pod-network-cidr 10.244.0.0/16 --pod-network bridge --kubelet-image "$KUBELET_IMAGE" --config /host/images/kube-proxy.yaml \
    --skip-phases addon/coredns "${@:2}" >"$work/init.out" 2>&1
  local code=$?
  grep -E '^ *docker run .* kubeup join ' "$work/init.out" | grep -v -- --control-plane | sed 's/^ *//' | head -n1 >"$work/join-worker" || true
  grep -E '^ *docker run .* kubeup join .* --control-plane ' "$work/init.out" | sed 's/^ *//' | head -n1 >"$work/join-control-plane" || true
  (umask 077 && in_node "$n" cat /etc/kubernetes/admin.conf >"$work/admin.conf" 2>/dev/null) || true
  return $code
}

kubectl_c() { kubectl --kubeconfig "$work/admin.conf" --request-timeout=5s "$@"; }

# wait_ready NODE… : every named node Ready (up to 3 minutes each).
wait_ready() {
  for node in "$@"; do
    kubectl_c wait --for=condition=Ready "node/$node" --timeout=180s >&2 || fail "$node is not Ready"
  done
}

# diagnose: per node, its containers, the kubelet's log, the pods' logs; then kubectl's view.
diagnose() {
  for n in $(docker ps -aq --filter "label=$label" --filter "label=io.kubeup.node"); do
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
    kubectl_c get nodes -o wide >&2 || true
    kubectl_c get pods -A -o wide >&2 || true
  fi
}

# cluster_remove: every container, volume and network of this cluster (by its label only).
cluster_remove() {
  local ids vols
  ids=$(docker ps -aq --filter "label=$label")
  [ -z "$ids" ] || docker rm -f $ids >/dev/null
  docker network rm "$net" >/dev/null 2>&1 || true
  vols=$(docker volume ls -q --filter "label=$label")
  [ -z "$vols" ] || docker volume rm $vols >/dev/null
}

# cluster_left: what of this cluster still exists (empty when nothing).
cluster_left() {
  docker ps -aq --filter "label=$label"
  docker volume ls -q --filter "label=$label"
  docker network ls -q --filter "label=$label"
}
