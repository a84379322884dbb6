# shellcheck shell=bash
# Shared by scripts/e2e/run and scripts/e2e/kubeadm-reference (sourced): one uniquely named
# cluster of scripts/lib/cluster.sh (the library scripts/local-cluster uses), diagnostics on
# failure, and removal of everything it created by the EXIT trap.
# shellcheck source=../lib/cluster.sh
. scripts/lib/cluster.sh
run_id=$(head -c4 /dev/urandom | od -An -tx1 | tr -d ' \n')
log_tag=e2e
extra_label=io.kubeup.e2e.run=$run_id
cluster_vars "e2e-$run_id"
ok=0
cleanup() {
  [ "$ok" = 1 ] || diagnose
  if [ "$ok" != 1 ] && [ -n "${KUBEUP_E2E_KEEP:-}" ]; then
    log "KUBEUP_E2E_KEEP is set: keeping the nodes and $net (remove with: docker rm -f \$(docker ps -aq --filter $label))"
    return
  fi
  cluster_remove
  rm -rf "$work"
}
trap cleanup EXIT
