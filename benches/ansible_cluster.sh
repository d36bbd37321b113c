#!/usr/bin/env bash
# Benchmark: the cluster upgrade driven by Ansible (the collection's
# cluster_upgrade.yml over SSH, one node at a time in `cluster plan`'s order) on lab
# fleets of 4 and 8 demo appliances (ansible/tests/fleet.sh: one network namespace
# and sshd per node), against the same commands (verify, check, activate --yes,
# reboot) run over plain ssh in a shell loop in the same order, on a fresh fleet of
# the same size. Prints wall times, the module's overhead per node and the ratio.
# Needs root, sshd, ansible-core. Usage: benches/ansible_cluster.sh [SIZES...]
# UPGRADE_CONSOLE_BIN picks the binary (default: target/debug, built if missing).
set -euo pipefail
HERE=$(cd "$(dirname "$0")/.." && pwd)
SIZES=${*:-4 8}
LAB=/run/ucbench
export FLEET_NET=${FLEET_NET:-219}
if [ -z "${UPGRADE_CONSOLE_BIN:-}" ]; then
  (cd "$HERE" && cargo build --quiet --bin upgrade-console)
  export UPGRADE_CONSOLE_BIN=${CARGO_TARGET_DIR:-$HERE/target}/debug/upgrade-console
fi
for t in ansible-playbook ansible-galaxy ssh /usr/sbin/sshd ip; do
  command -v "$t" >/dev/null || { echo "benches/ansible_cluster.sh needs $t" >&2; exit 2; }
done
FLEET="bash $HERE/ansible/tests/fleet.sh"
trap '$FLEET down $LAB; rm -rf /run/ucbench-collections' EXIT
export ANSIBLE_COLLECTIONS_PATH=/run/ucbench-collections ANSIBLE_HOST_KEY_CHECKING=False
ansible-galaxy collection install --force -p "$ANSIBLE_COLLECTIONS_PATH" \
  "$HERE/ansible/ansible_collections/appliance/upgrade_console" >/dev/null
BOOK=$ANSIBLE_COLLECTIONS_PATH/ansible_collections/appliance/upgrade_console/playbooks/cluster_upgrade.yml
now() { date +%s.%N; }
SSH=(ssh -i $LAB/id_ed25519 -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -l root)

# host -> "ip root image" from the fleet's inventory
node() { awk -v h="$1" '$1 == h { for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
  print v["ansible_host"], v["upgrade_console_root"], v["upgrade_console_image"]; exit }' $LAB/inventory.ini; }

rows=()
for n in $SIZES; do
  $FLEET up $LAB "$n" >/dev/null
  t0=$(now)
  ansible-playbook -i $LAB/inventory.ini "$BOOK" >/tmp/ucbench-ansible.log 2>&1 \
    || { echo "ansible run failed: /tmp/ucbench-ansible.log" >&2; exit 1; }
  t1=$(now)
  ansible-playbook -i $LAB/inventory.ini "$BOOK" >/tmp/ucbench-ansible2.log 2>&1
  t2=$(now)

  $FLEET up $LAB "$n" >/dev/null
  t3=$(now)
  read -r ip root _ < <(node cm)
  order=$("${SSH[@]}" "$ip" "$UPGRADE_CONSOLE_BIN --root $root --json cluster plan" |
    python3 -c 'import json,sys; print(" ".join(x["name"] for x in json.load(sys.stdin)["nodes"]))')
  for h in $order; do
    read -r ip root img < <(node "$h")
    B="$UPGRADE_CONSOLE_BIN --root $root --json"
    "${SSH[@]}" "$ip" "$B verify $img && $B check $img && $B activate --yes $img && $B reboot" \
      >/dev/null 2>&1 || { echo "shell loop failed on $h" >&2; exit 1; }
  done
  t4=$(now)
  rows+=("$(python3 -c "
n=$n; a=$t1-$t0; a2=$t2-$t1; s=$t4-$t3
print(f'| {n} | {a:.1f} | {a2:.1f} | {s:.1f} | {(a-s)/n:.2f} | {a/s:.2f} |')")")
done
echo "| nodes | ansible cluster upgrade (s) | ansible second run, no change (s) | ssh shell loop (s) | module overhead per node (s) | ansible / shell |"
echo "|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
