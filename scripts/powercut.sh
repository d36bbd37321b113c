#!/usr/bin/env bash
# Power cuts of the whole virtual appliance at random moments of an upgrade (the slot
# write, the reboot, GRUB, phase 1, the commit), TRIALS of them (default 50; about a
# minute each under TCG), then a boot after each: prints where each cut landed and what
# booted. CI runs 2 (the test's default). POWERCUT_SEED=N repeats a run.
#   bash scripts/powercut.sh [TRIALS]
set -euo pipefail
cd "$(dirname "$0")/.."
POWERCUT_TRIALS=${1:-50} cargo test -q --test integration -- \
  appliance_vm::power_cuts_during_the_upgrade_leave_a_bootable_appliance --nocapture 2>&1 |
  sed -u -n '/^power cut trial/p;/^power cuts/,/^$/p;/panicked/,+20p;/test result/p'
