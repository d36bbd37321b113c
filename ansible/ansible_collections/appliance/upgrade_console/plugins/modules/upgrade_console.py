#!/usr/bin/python
# Runs upgrade-console on the node with --json and brings the node's upgrade to the
# requested state, running only the steps that are missing (idempotent).
from __future__ import annotations

DOCUMENTATION = r"""
module: upgrade_console
short_description: Upgrade an appliance's firmware with upgrade-console
description:
  - Reads C(upgrade-console status --json) and the node's upgrade journal, then runs
    only the missing steps (verify, check, activate --yes, reboot) to reach I(state).
  - Asking for a state the node is already in (or past) runs nothing and reports
    changed=false. Check mode reports the commands that would run and runs none.
options:
  image:
    description: Path of the firmware ISO on the node (its .sha256 beside it is used by verify).
    type: path
  state:
    description: Where the upgrade must be. C(status) only reports (roles, version, journal state).
    choices: [status, verified, checked, activated, rebooted, committed]
    default: committed
    type: str
  root:
    description: The appliance root (C(/) on an appliance; a directory in demos and tests).
    type: path
    default: /
  binary:
    description: The upgrade-console program on the node.
    type: path
    default: upgrade-console
"""

RETURN = r"""
cluster_roles: {description: the node's cluster roles from status --json, type: list}
version: {description: the running firmware version before the module ran, type: str}
target_version: {description: the image's version when known, type: str}
steps: {description: "each command run: argv, rc and its JSON", type: list}
would_run: {description: the commands that would run (check mode), type: list}
json: {description: the JSON of the last command run, type: dict}
"""

import hashlib
import json
import os

from ansible.module_utils.basic import AnsibleModule

# The ladder of states; reaching one implies the ones before it.
LADDER = ["verified", "checked", "activated", "rebooted", "committed"]


def read_journal(path):
    """Records of var/lib/upgrade-console/journal.log: lines `SEQ SUM JSON`. A torn
    last line is ignored as upgrade-console does; its checksum is its business."""
    records = []
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return records
    for raw in data.split(b"\n"):
        parts = raw.decode("utf-8", "replace").split(" ", 2)
        if len(parts) != 3:
            continue
        try:
            records.append(json.loads(parts[2]))
        except ValueError:
            continue
    return records


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def reached(records, iso_sha, running_version):
    """How far the upgrade to the image whose SHA-256 is iso_sha got: (index in
    LADDER or -1, target version or None, last outcome event or None)."""
    payload = version = None
    for r in records:
        if r.get("event") == "verified" and r.get("iso_sha256") == iso_sha:
            payload, version = r.get("payload_sha256"), r.get("version")
    if payload is None:
        return -1, None, None
    level = 0
    outcome = None
    for r in records:
        ev = r.get("event")
        if ev == "check-passed" and r.get("payload_sha256") == payload:
            level = max(level, 1)
        elif ev == "activated" and r.get("target", {}).get("sha256") == payload:
            level = max(level, 2)
            outcome = None
        elif ev == "committed" and r.get("sha256") == payload:
            outcome = r
        elif ev in ("rolled-back", "recovery-required", "activation-failed"):
            outcome = r
    if outcome is not None and outcome.get("event") == "committed" and running_version == version:
        level = 4
    elif outcome is not None and outcome.get("event") != "committed":
        # A failed attempt: the node is back below activated for this image.
        level = min(level, 1)
    return level, version, outcome


def say(doc, err):
    """What the command said, for msg: its JSON's message (the last record's for a
    list such as reboot's boots), else the last stderr line that is not progress."""
    last = doc[-1] if isinstance(doc, list) and doc else doc
    if isinstance(last, dict):
        for key in ("message", "error", "reason"):
            if last.get(key):
                return str(last[key])
    lines = [l for l in err.strip().splitlines() if not l.startswith("{")]
    return lines[-1] if lines else "no message"


def main():
    module = AnsibleModule(
        argument_spec=dict(
            image=dict(type="path"),
            state=dict(type="str", default="committed", choices=["status"] + LADDER),
            root=dict(type="path", default="/"),
            binary=dict(type="path", default="upgrade-console"),
        ),
        required_if=[("state", s, ["image"]) for s in LADDER],
        supports_check_mode=True,
    )
    p = module.params
    base = [p["binary"], "--root", p["root"], "--json"]
    steps = []

    def run(args, fail=True):
        argv = base + args
        rc, out, err = module.run_command(argv)
        try:
            doc = json.loads(out) if out.strip() else None
        except ValueError:
            doc = None
        step = {"argv": argv, "rc": rc, "json": doc, "stderr": err[-4000:]}
        steps.append(step)
        if rc != 0 and fail:
            module.fail_json(
                msg="%s failed (exit %d): %s" % (" ".join(argv[3:]), rc, say(doc, err)),
                rc=rc, json=doc, steps=steps, changed=len(steps) > 1,
            )
        return step

    status = run(["status"])["json"] or {}
    steps.clear()  # status is a read, not a change
    roles = status.get("cluster_roles") or []
    running = status.get("version")
    journal = os.path.join(p["root"], "var/lib/upgrade-console/journal.log")
    records = read_journal(journal)
    result = dict(changed=False, rc=0, cluster_roles=roles, version=running,
                  status=status, steps=steps)
    if p["state"] == "status":
        module.exit_json(msg="node %s runs %s" % (status.get("hostname"), running), **result)

    if not os.path.isfile(p["image"]):
        module.fail_json(msg="image %s is not a file on the node: copy the ISO there first "
                         "or fix the image parameter" % p["image"], rc=2, **result)
    iso_sha = sha256_file(p["image"])
    level, version, outcome = reached(records, iso_sha, running)
    want = LADDER.index(p["state"])
    result["target_version"] = version
    # "rebooted" on a demo/test root means the boot phase ran and committed, so
    # rebooted and committed are the same level here.
    if want == 3:
        want = 4 if level < 4 else 3
    if level >= min(want, 4) or (p["state"] == "rebooted" and level == 4):
        module.exit_json(msg="already %s on %s" % (LADDER[max(level, 0)], version or running), **result)

    plan = []
    if level < 0:
        plan.append(["verify", p["image"]])
    if level < 1 and want >= 1:
        plan.append(["check", p["image"]])
    if level < 2 and want >= 2:
        plan.append(["activate", "--yes", p["image"]])
    if level < 4 and want >= 3:
        plan.append(["reboot"])
    if module.check_mode:
        result["would_run"] = [base + a for a in plan]
        module.exit_json(changed=bool(plan), msg="would run: " + "; ".join(a[0] for a in plan),
                         **{k: v for k, v in result.items() if k != "changed"})

    for args in plan:
        run(args)
    result["changed"] = True
    result["json"] = steps[-1]["json"] if steps else None
    if want >= 3:
        level, version, outcome = reached(read_journal(journal), iso_sha, None)
        after = run(["status"], fail=False)["json"] or {}
        steps.pop()
        if outcome is None or outcome.get("event") != "committed" or after.get("version") != version:
            module.fail_json(
                msg="the node did not commit %s: %s (status: %s)" % (
                    version, (outcome or {}).get("reason", "no outcome in the journal"),
                    after.get("last_upgrade") or after.get("upgrade")),
                rc=1, **result)
        result["version"] = after.get("version")
    module.exit_json(msg="%s reached: %s" % (p["state"], ", ".join(a[0] for a in plan)), **result)


if __name__ == "__main__":
    main()
