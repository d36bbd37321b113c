#!/usr/bin/env bash
# A lab fleet of demo appliances for the collection's tests and benchmark: each node
# is a network namespace with a veth to the host namespace (the control side) and its
# own sshd (root by key only, port 22 on its veth address) and demo appliance root.
#   fleet.sh up LAB N [FAILING_NODE]   LAB must be under /run (sshd StrictModes)
#   fleet.sh down LAB
# FLEET_NET (default 213): addresses are 10.FLEET_NET.i.0/24, one net per fleet.
# Nodes: sm (search master), cm (central management), then minions m1.., then
# managed hosts h1..; writes LAB/inventory.ini (in a scrambled order: the play must
# take the order from `cluster plan`) and LAB/id_ed25519 for the control side.
set -euo pipefail
BIN=${UPGRADE_CONSOLE_BIN:?set UPGRADE_CONSOLE_BIN to the upgrade-console binary}
cmd=$1 lab=$2
net=${FLEET_NET:-213}
tag=$(basename "$lab" | tr -cd 'a-z0-9' | tail -c 6)

names() { # N -> node names
  local n=$1 i out="sm cm"
  local minions=$(( (n - 2 + 1) / 2 )) hosts=$(( n - 2 - (n - 2 + 1) / 2 ))
  for ((i = 1; i <= minions; i++)); do out+=" m$i"; done
  for ((i = 1; i <= hosts; i++)); do out+=" h$i"; done
  echo "$out"
}
roles() { case $1 in sm) echo '"search-master"';; cm) echo '"central-management"';;
  m*) echo '"search-minion"';; *) echo '';; esac; }

down() {
  for f in "$lab"/nodes/*/sshd.pid; do
    [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null || true
  done
  # Every process in the namespaces goes (sshd's sessions too: Ansible's ControlPersist
  # keeps them open), else the namespace and its veths outlive `ip netns del`.
  local ns pids i
  for ns in $(ip netns list | awk '{print $1}' | grep "^uc$tag-" || true); do
    pids=$(ip netns pids "$ns" || true)
    [ -n "$pids" ] && kill $pids 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do [ -z "$(ip netns pids "$ns" || true)" ] && break; sleep 0.1; done
    pids=$(ip netns pids "$ns" || true)
    [ -n "$pids" ] && kill -9 $pids 2>/dev/null || true
    ip netns del "$ns" || true
  done
  for l in $(ip -br link | awk '{print $1}' | sed 's/@.*//' | grep "^uc$tag[0-9]" || true); do
    ip link del "$l" 2>/dev/null || true
  done
  rm -rf "$lab"
}

up() {
  local n=$1 failing=${2:-} i=0 name
  down; mkdir -p "$lab/nodes"; chmod 755 "$lab" "$lab/nodes"
  ssh-keygen -q -t ed25519 -N '' -f "$lab/id_ed25519"
  local all; all=$(names "$n")
  for name in $all; do
    i=$((i + 1))
    local d="$lab/nodes/$name" ns="uc$tag-$name" hv="uc$tag$i" nv="uc${tag}n$i"
    local ip="10.$net.$i.2"
    mkdir -p "$d"; chmod 755 "$d"
    "$BIN" demo "$d/root" </dev/null >/dev/null
    # Node name = hostname; [cluster] lists the others (the plan reads it on cm).
    sed -i "s/^hostname = .*/hostname = \"$name\"/" "$d/root/etc/appliance/appliance.toml"
    {
      echo; echo "[cluster]"; echo "roles = [$(roles "$name")]"; echo "nodes = ["
      for o in $all; do [ "$o" = "$name" ] || echo "  { name = \"$o\", roles = [$(roles "$o")], version = \"7.0.1\" },"; done
      echo "]"
    } >> "$d/root/etc/appliance/appliance.toml"
    local img="$d/root/images/sps-7.3.1.iso"
    if [ "$name" = "$failing" ]; then
      img="$d/root/images/sps-7.3.1-fails-in-phase1.iso"
    fi
    echo "$img" > "$d/image"
    ip netns add "$ns"
    ip link add "$hv" type veth peer name "$nv"
    ip link set "$nv" netns "$ns"
    ip addr add "10.$net.$i.1/24" dev "$hv"; ip link set "$hv" up
    ip -n "$ns" addr add "$ip/24" dev "$nv"; ip -n "$ns" link set "$nv" up; ip -n "$ns" link set lo up
    ssh-keygen -q -t ed25519 -N '' -f "$d/host_key"
    cp "$lab/id_ed25519.pub" "$d/authorized_keys"; chmod 644 "$d/authorized_keys"
    cat > "$d/sshd_config" <<CONF
ListenAddress $ip:22
HostKey $d/host_key
PidFile $d/sshd.pid
AuthorizedKeysFile $d/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes yes
Subsystem sftp internal-sftp
CONF
    ip netns exec "$ns" /usr/sbin/sshd -f "$d/sshd_config" -E "$d/sshd.log"
    echo "$name ansible_host=$ip upgrade_console_root=$d/root upgrade_console_image=$img" >> "$lab/hosts.tmp"
  done
  {
    echo "[central_management]"; grep '^cm ' "$lab/hosts.tmp"
    echo "[appliances]"; sort -r "$lab/hosts.tmp"
    echo "[all:vars]"
    echo "ansible_user=root"
    echo "ansible_ssh_private_key_file=$lab/id_ed25519"
    echo "ansible_ssh_common_args='-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o ConnectTimeout=10'"
    echo "ansible_python_interpreter=$(command -v python3)"
    echo "upgrade_console_binary=$BIN"
  } > "$lab/inventory.ini"
  rm "$lab/hosts.tmp"
}

case $cmd in
  up) up "${3:?N}" "${4:-}";;
  down) down;;
  *) echo "usage: fleet.sh up LAB N [FAILING_NODE] | down LAB" >&2; exit 2;;
esac
