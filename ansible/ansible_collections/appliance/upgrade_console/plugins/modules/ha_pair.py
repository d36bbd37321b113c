#!/usr/bin/python
# Upgrades an HA pair from its primary with `upgrade-console ha upgrade --json`:
# reads `ha status --json` first and runs nothing when both nodes already run the
# image's version; resumes an upgrade of the same image that is under way.
from __future__ import annotations

DOCUMENTATION = r"""
module: ha_pair
short_description: Upgrade an appliance HA pair with upgrade-console, from its primary
description:
  - Runs on the pair's primary node. Reads C(upgrade-console ha status --json) and
    the node's journal, then decides.
  - When both nodes already run the image's version (now and after reboot) it runs
    nothing and reports changed=false.
  - An HA upgrade of the same image under way (stopped, or interrupted) is resumed
    with C(ha upgrade --yes) (no ISO).
  - Otherwise it runs C(ha upgrade ISO --yes), the whole procedure (test on the primary,
    copy to the secondary, secondary off, reboot of the primary, secondary on,
    role swap). Afterwards this node is the secondary.
  - Check mode reports the command that would run and runs none.
  - On a real machine the procedure stops when the primary reboots; the module then
    returns I(rebooting=true) and the play waits for the node and runs it again.
options:
  image:
    description:
      - Path of the firmware ISO on the primary; its published hash is read from
        ISO.sha256 beside it unless I(sha256) is given.
      - Without it the module only resumes an HA upgrade that is under way.
    type: path
  sha256:
    description: The ISO's published SHA-256 (hex), instead of ISO.sha256.
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
version: {description: the image's version when known, type: str}
before: {description: "ha status --json before the module ran", type: dict}
after: {description: "ha status --json after the upgrade ran", type: dict}
json: {description: "the JSON document of ha upgrade (progress, figures, rebooting)", type: dict}
rebooting: {description: the primary is rebooting; run the module again after the boot, type: bool}
would_run: {description: the command that would run (check mode), type: list}
argv: {description: the command that ran, type: list}
"""

import hashlib
import json
import os

from ansible.module_utils.basic import AnsibleModule


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def journal_version(path, iso_sha):
    """The version a `verified` record of the node's journal (lines `SEQ SUM JSON`)
    gives the image whose SHA-256 is iso_sha, or None."""
    try:
        with open(path, "rb") as f:
            lines = f.read().split(b"\n")
    except FileNotFoundError:
        return None
    version = None
    for raw in lines:
        parts = raw.decode("utf-8", "replace").split(" ", 2)
        if len(parts) != 3:
            continue
        try:
            r = json.loads(parts[2])
        except ValueError:
            continue
        if isinstance(r, dict) and r.get("event") == "verified" and r.get("iso_sha256") == iso_sha:
            version = r.get("version")
    return version


def on_version(node, version):
    """Whether a node of `ha status` runs `version` now and after its next boot."""
    return (
        isinstance(node, dict)
        and version is not None
        and node.get("current") == version
        and node.get("after_reboot") == version
    )


def pair_on(status, version):
    return on_version(status.get("this_node"), version) and on_version(
        status.get("other_node"), version
    )


def decide(status, iso_sha, known_version):
    """What to do, from `ha status --json`, the ISO's SHA-256 (None without an
    image) and the image's version from the journal (None when unknown).
    Returns (action, version, why): action is "none", "resume", "start" or "fail"."""
    up = status.get("upgrade") or None
    same = up is not None and iso_sha is not None and up.get("iso_sha256") == iso_sha
    version = up.get("version") if same else known_version
    if iso_sha is None and up is not None:
        version = up.get("version")
    if version is not None and pair_on(status, version):
        return "none", version, "both nodes run %s" % version
    if up is not None and not up.get("abandoned") and (same or iso_sha is None):
        if status.get("next_step") is None:
            # Finished, yet the nodes do not both run it: not something to redo blindly.
            return "fail", version, (
                "the HA upgrade to %s is recorded as finished but the nodes do not both run "
                "it (this node: %s, other node: %s%s)" % (
                    version, describe(status.get("this_node")),
                    describe(status.get("other_node")),
                    ", " + status["other_node_error"] if status.get("other_node_error") else "")
            )
        return "resume", version, "resume the HA upgrade to %s at %s" % (
            version, status.get("next_step"))
    if iso_sha is None:
        return "fail", version, (
            "no HA upgrade is under way to resume: give the image parameter (the ISO's path "
            "on the primary)"
        )
    return "start", version, "start the HA upgrade"


def describe(node):
    if not isinstance(node, dict):
        return "unknown"
    return "%s runs %s, %s after reboot" % (
        node.get("role") or "no role", node.get("current"), node.get("after_reboot"))


def command(base, action, image, sha256):
    """The argv of `ha upgrade` for an action of decide()."""
    argv = base + ["ha", "upgrade"]
    if action == "start":
        argv.append(image)
        if sha256:
            argv += ["--sha256", sha256]
    return argv + ["--yes"]


def error_of(doc, err):
    """The CLI's error message: {"error": ...} on stdout, else its last stderr line
    that is not a JSON progress line."""
    if isinstance(doc, dict) and doc.get("error"):
        return str(doc["error"])
    lines = [l for l in err.strip().splitlines() if l.strip() and not l.startswith("{")]
    return lines[-1] if lines else "no message"


def parse(out):
    try:
        return json.loads(out) if out.strip() else None
    except ValueError:
        return None


def main():
    module = AnsibleModule(
        argument_spec=dict(
            image=dict(type="path"),
            sha256=dict(type="str"),
            root=dict(type="path", default="/"),
            binary=dict(type="path", default="upgrade-console"),
        ),
        supports_check_mode=True,
    )
    p = module.params
    base = [p["binary"], "--root", p["root"], "--json"]

    def ha_status():
        argv = base + ["ha", "status"]
        rc, out, err = module.run_command(argv)
        doc = parse(out)
        if rc != 0 or not isinstance(doc, dict):
            module.fail_json(msg="ha status failed (exit %d): %s" % (rc, error_of(doc, err)),
                             rc=rc, changed=False)
        return doc

    before = ha_status()
    iso_sha = None
    known = None
    if p["image"]:
        try:
            iso_sha = sha256_file(p["image"])
        except OSError as e:
            module.fail_json(msg="cannot read the image %s on the node (%s): copy the ISO "
                             "there first or fix the image parameter" % (p["image"], e),
                             rc=2, changed=False, before=before)
        known = journal_version(
            os.path.join(p["root"], "var/lib/upgrade-console/journal.log"), iso_sha)
    action, version, why = decide(before, iso_sha, known)
    result = dict(changed=False, rc=0, version=version, before=before, rebooting=False)
    if action == "none":
        module.exit_json(msg="nothing to do: " + why, **result)
    if action == "fail":
        module.fail_json(msg=why, rc=1, **result)
    argv = command(base, action, p["image"], p["sha256"])
    if module.check_mode:
        result.update(changed=True, would_run=argv)
        module.exit_json(msg="would %s: %s" % (why, " ".join(argv)), **result)

    rc, out, err = module.run_command(argv)
    doc = parse(out)
    result.update(changed=True, rc=rc, argv=argv, json=doc, stderr=err[-4000:])
    if rc != 0:
        module.fail_json(msg="ha upgrade failed (exit %d): %s" % (rc, error_of(doc, err)),
                         **result)
    if not isinstance(doc, dict) or "progress" not in doc:
        module.fail_json(msg="ha upgrade printed no progress document: %s" % out[-400:],
                         **result)
    version = doc["progress"].get("version") or version
    result["version"] = version
    if doc.get("rebooting"):
        result["rebooting"] = True
        module.exit_json(msg="the primary is rebooting into %s; run again after the boot "
                         "to go on" % version, **result)
    after = ha_status()
    result["after"] = after
    if not pair_on(after, version):
        module.fail_json(
            msg="ha upgrade ended but the nodes do not both run %s: this node %s, other node "
            "%s" % (version, describe(after.get("this_node")), describe(after.get("other_node"))),
            **result)
    module.exit_json(msg="the HA pair runs %s on both nodes; this node is now %s" % (
        version, (after.get("this_node") or {}).get("role")), **result)


if __name__ == "__main__":
    main()
