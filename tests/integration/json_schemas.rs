//! Every command's `--json` output, checked against the schemas in schemas/ (issue 13,
//! deliverable 1): the real commands run on a demo appliance, success and failure,
//! stdout one document, stderr progress records one a line. The schemas refuse unknown
//! fields, so a field added to a report without documenting it fails here.

use crate::support::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

fn schema_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas")
}

fn schema_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(schema_dir())
        .expect("read schemas/")
        .flatten()
        .filter_map(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            n.strip_suffix(".v1.json").map(String::from)
        })
        .collect();
    names.sort();
    names
}

fn schema(name: &str) -> Value {
    let p = schema_dir().join(format!("{name}.v1.json"));
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Checks `doc` against schema `name` (other schemas resolvable by their $id).
fn check(name: &str, doc: &Value, what: &str) {
    let mut registry = jsonschema::Registry::new();
    for n in schema_names() {
        let s = schema(&n);
        let id = s["$id"]
            .as_str()
            .expect("every schema has an $id")
            .to_string();
        registry = registry
            .add(id.as_str(), s)
            .unwrap_or_else(|e| panic!("schema {n}: {e}"));
    }
    let registry = registry.prepare().expect("schemas resolve");
    let validator = jsonschema::options()
        .with_registry(&registry)
        .build(&schema(name))
        .unwrap_or_else(|e| panic!("schema {name} is not a valid JSON Schema: {e}"));
    let errors: Vec<String> = validator
        .iter_errors(doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{what}: output does not match schemas/{name}.v1.json:\n  {}\n{}",
        errors.join("\n  "),
        serde_json::to_string_pretty(doc).unwrap_or_default()
    );
}

/// Runs a command with --json; stdout must be exactly one JSON document.
fn json_run(root: &Path, args: &[&str]) -> (i32, Value, String) {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let o = run_env(root, &all, &[("UPGRADE_CONSOLE_PROGRESS_EVERY", "0")]);
    let doc: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "{args:?}: stdout is not one JSON document ({e}):\n{}",
            text(&o)
        )
    });
    (
        code(&o),
        doc,
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// Every stderr line that is JSON is a progress record; returns how many there were.
fn check_progress_lines(stderr: &str, what: &str) -> usize {
    let mut n = 0;
    for line in stderr.lines().filter(|l| l.starts_with('{')) {
        let v: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("{what}: stderr line is not JSON ({e}): {line}"));
        check("progress", &v, &format!("{what} progress line"));
        n += 1;
    }
    n
}

/// A demo root whose boot log server stays off (parallel tests share no port).
fn quiet_demo() -> (tempfile::TempDir, PathBuf) {
    let (d, root) = demo();
    let cfg = root.join("etc/appliance/appliance.toml");
    let text = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(
        &cfg,
        text.replace("listen = [\"127.0.0.1:8480\"]", "listen = []"),
    )
    .unwrap();
    (d, root)
}

#[test]
fn the_whole_upgrade_in_json_matches_the_schemas() {
    let (_d, root) = quiet_demo();
    let iso = root.join("images/sps-7.3.1.iso");
    let iso = iso.to_str().unwrap();

    let (c, doc, _) = json_run(&root, &["status"]);
    assert_eq!(c, 0);
    check("status", &doc, "status");

    let (c, doc, err) = json_run(&root, &["verify", iso]);
    assert_eq!(c, 0, "{doc}");
    check("verify", &doc, "verify");
    assert!(check_progress_lines(&err, "verify") > 0, "verify: {err}");

    let (c, doc, _) = json_run(&root, &["check", iso]);
    assert_eq!(c, 0, "{doc}");
    check("check", &doc, "check");

    let (c, doc, err) = json_run(&root, &["activate", "--yes", iso]);
    assert_eq!(c, 0, "{doc}");
    check("activate", &doc, "activate");
    assert!(
        check_progress_lines(&err, "activate") > 0,
        "activate: {err}"
    );

    let (c, doc, err) = json_run(&root, &["reboot"]);
    assert_eq!(c, 0, "{doc}");
    check("boot", &doc, "reboot");
    assert_eq!(doc[0]["outcome"], "committed", "{doc}");
    assert!(check_progress_lines(&err, "reboot") > 0, "reboot: {err}");

    let (c, doc, _) = json_run(&root, &["status"]);
    assert_eq!(c, 0);
    check("status", &doc, "status after the upgrade");
    assert!(doc["operation"].is_object(), "{doc}");

    let (c, doc, err) = json_run(&root, &["phase2"]);
    assert_eq!(c, 0, "{doc}");
    check("phase2", &doc, "phase2");
    check_progress_lines(&err, "phase2");
    let (c, doc, _) = json_run(&root, &["phase2"]);
    assert_eq!(c, 0, "{doc}");
    check("phase2", &doc, "phase2 with nothing to do");

    let (c, doc, _) = json_run(&root, &["boot"]);
    assert_eq!(c, 0, "{doc}");
    check("boot", &doc, "boot");

    let out = root.join("b.zip");
    let (c, doc, _) = json_run(&root, &["bundle", "-o", out.to_str().unwrap()]);
    assert_eq!(c, 0, "{doc}");
    check("bundle", &doc, "bundle");

    let (c, doc, _) = json_run(&root, &["cluster", "plan"]);
    assert_eq!(c, 0, "{doc}");
    check("cluster-plan", &doc, "cluster plan, standalone");
}

#[test]
fn failures_print_one_error_document() {
    let (_d, root) = quiet_demo();
    let iso = root.join("images/sps-7.3.1.iso");
    let iso = iso.to_str().unwrap();
    let missing = root.join("images/none.iso");
    let missing = missing.to_str().unwrap();

    for (args, want, name) in [
        (vec!["verify", missing], 2, "verify"),
        (vec!["check", missing], 2, "check"),
        // Not verified and checked yet: refused.
        (vec!["activate", "--yes", iso], 1, "activate"),
        (vec!["bundle", "-o", "/proc/no/such/dir/b.zip"], 2, "bundle"),
        (vec!["cluster", "plan", missing], 2, "cluster-plan"),
    ] {
        let (c, doc, _) = json_run(&root, &args);
        assert_eq!(c, want, "{args:?}: {doc}");
        assert!(doc["error"].is_string(), "{args:?}: {doc}");
        check(name, &doc, &format!("{args:?}"));
        check("error", &doc, &format!("{args:?}"));
    }

    // A mismatching image is a report, not an error: exit 1 with image_ok false.
    let (c, doc, _) = json_run(&root, &["verify", "--sha256", &"0".repeat(64), iso]);
    assert_eq!(c, 1, "{doc}");
    assert_eq!(doc["image_ok"], false, "{doc}");
    check("verify", &doc, "verify with a wrong hash");

    // A damaged journal: status still reports, says so, and exits 2.
    for args in [vec!["verify", iso], vec!["check", iso]] {
        let (c, doc, _) = json_run(&root, &args);
        assert_eq!(c, 0, "{args:?}: {doc}");
    }
    // (A record flipped inside, with a good one after it: not a torn tail.)
    let j = root.join("var/lib/upgrade-console/journal.log");
    let mut bytes = std::fs::read(&j).unwrap();
    let pos = bytes.iter().position(|&b| b == b'{').unwrap() + 3;
    bytes[pos] ^= 0x01;
    std::fs::write(&j, &bytes).unwrap();
    let (c, doc, _) = json_run(&root, &["status"]);
    assert_eq!(c, 2, "{doc}");
    assert!(doc["state_damaged"].is_string(), "{doc}");
    check("status", &doc, "status with a damaged journal");
}

#[test]
fn a_failed_boot_and_a_cluster_plan_match_the_schemas() {
    let (_d, root) = quiet_demo();
    let iso = root.join("images/sps-7.3.1-fails-in-phase1.iso");
    let iso = iso.to_str().unwrap();
    for args in [vec!["verify", iso], vec!["check", iso]] {
        let (c, doc, _) = json_run(&root, &args);
        assert_eq!(c, 0, "{args:?}: {doc}");
    }
    let (c, doc, _) = json_run(&root, &["activate", "--yes", iso]);
    assert_eq!(c, 0, "{doc}");
    let (c, doc, err) = json_run(&root, &["reboot"]);
    assert_eq!(c, 1, "{doc}");
    check("boot", &doc, "a boot that rolled back");
    assert!(
        doc.as_array()
            .unwrap()
            .iter()
            .any(|r| r["outcome"] == "rolled-back"),
        "{doc}"
    );
    check_progress_lines(&err, "a boot that rolled back");

    let cfg = root.join("etc/appliance/appliance.toml");
    let mut text = std::fs::read_to_string(&cfg).unwrap();
    text.push_str(
        "\n[cluster]\nroles = [\"central-management\"]\nnodes = [\
         { name = \"minion-1\", roles = [\"search-minion\"], address = \"10.0.0.5\", version = \"7.0.1\" },\
         { name = \"master\", roles = [\"search-master\"], address = \"10.0.0.6\" }]\n",
    );
    std::fs::write(&cfg, text).unwrap();
    let good = root.join("images/sps-7.3.1.iso");
    let (c, doc, _) = json_run(&root, &["cluster", "plan", good.to_str().unwrap()]);
    assert_eq!(c, 0, "{doc}");
    check("cluster-plan", &doc, "cluster plan");
    assert_eq!(doc["nodes"][0]["name"], "minion-1", "{doc}");
}

#[test]
fn recover_prints_its_report_as_the_schema_says() {
    let (_d, root) = quiet_demo();
    let mut child = Command::new(bin())
        .arg("--root")
        .arg(&root)
        .args(["--json", "recover"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start recover");
    let report = root.join("var/lib/upgrade-console/recovery.json");
    wait_for("recover to write recovery.json", PATIENCE, || {
        if report.exists() {
            Ok(())
        } else {
            Err("not yet".into())
        }
    });
    // The report is printed right after recovery.json is written; give it a moment
    // to reach the pipe, then stop recover as an operator would.
    std::thread::sleep(Duration::from_millis(300));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let deadline = std::time::Instant::now() + PATIENCE;
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("recover did not stop within {PATIENCE:?} of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let o = child.wait_with_output().unwrap();
    let doc: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "recover stdout is not one JSON document ({e}): {}",
            text(&o)
        )
    });
    check("recover", &doc, "recover");
    check_progress_lines(&String::from_utf8_lossy(&o.stderr), "recover");
}

/// Each command with --json has a schema; every schema file is a valid JSON Schema
/// with its versioned $id and a description, and the README's table names it.
#[test]
fn every_schema_is_valid_and_documented() {
    let readme = std::fs::read_to_string(schema_dir().join("README.md")).unwrap();
    let names = schema_names();
    for n in [
        "status",
        "verify",
        "check",
        "activate",
        "boot",
        "phase2",
        "recover",
        "bundle",
        "cluster-plan",
        "ha-status",
        "ha-node",
        "ha-upgrade",
        "ha-abandon",
        "ha-link-keys",
        "error",
        "progress",
    ] {
        assert!(names.contains(&n.to_string()), "no schemas/{n}.v1.json");
    }
    for n in &names {
        let s = schema(n);
        assert_eq!(
            s["$id"],
            format!("urn:upgrade-console:schema:{n}:1"),
            "schemas/{n}.v1.json: $id"
        );
        assert!(
            s["description"].as_str().is_some_and(|d| d.len() > 20),
            "schemas/{n}.v1.json has no description"
        );
        assert!(
            readme.contains(&format!("`{n}.v1.json`")),
            "schemas/README.md does not list {n}.v1.json"
        );
        // Building a validator checks the schema against the 2020-12 meta-schema.
        check_schema_builds(n);
    }
}

fn check_schema_builds(name: &str) {
    let mut registry = jsonschema::Registry::new();
    for n in schema_names() {
        let s = schema(&n);
        let id = s["$id"].as_str().unwrap().to_string();
        registry = registry.add(id.as_str(), s).unwrap();
    }
    let registry = registry.prepare().unwrap();
    assert!(
        jsonschema::meta::is_valid(&schema(name)),
        "schemas/{name}.v1.json is not a valid JSON Schema"
    );
    jsonschema::options()
        .with_registry(&registry)
        .build(&schema(name))
        .unwrap_or_else(|e| panic!("schemas/{name}.v1.json: {e}"));
}

/// The schemas are strict enough to catch drift: an undocumented field, a missing
/// one, or a wrong type is refused.
#[test]
fn the_schemas_refuse_undocumented_or_wrong_fields() {
    let (_d, root) = quiet_demo();
    let iso = root.join("images/sps-7.3.1.iso");
    let (_, good, _) = json_run(&root, &["verify", iso.to_str().unwrap()]);
    check("verify", &good, "verify");
    let mut extra = good.clone();
    extra["undocumented"] = Value::from(1);
    let mut missing = good.clone();
    missing.as_object_mut().unwrap().remove("payload_ok");
    let mut wrong = good.clone();
    wrong["bytes"] = Value::from("16 MiB");
    for (what, doc) in [("extra", extra), ("missing", missing), ("wrong", wrong)] {
        let refused = std::panic::catch_unwind(|| check("verify", &doc, what)).is_err();
        assert!(
            refused,
            "a verify report with a {what} field passed the schema"
        );
    }
}

/// The HA pair's documents: `ha status`, `ha upgrade` one step and to the end, its
/// progress lines, a stop (the error document), `ha abandon`, and `ha link-keys`, on
/// the HA lab (two nodes in network namespaces, ipmi_sim BMCs).
#[test]
fn the_ha_pair_in_json_matches_the_schemas() {
    let l = crate::support::ha::lab();
    let iso = l.image("sps-7.3.1.iso");
    let iso = iso.to_str().unwrap();
    let doc = l.status(true);
    check("ha-status", &doc, "ha status");
    check("ha-node", &doc["this_node"], "ha status: this node");
    let o = l.on(true, &["--json", "ha", "link-keys"], &[]);
    assert_eq!(code(&o), 0, "{}", describe(&o));
    check(
        "ha-link-keys",
        &serde_json::from_slice(&o.stdout).unwrap(),
        "ha link-keys",
    );
    // One step, then give it up (before the secondary is powered off).
    let o = l.on(
        true,
        &["--json", "ha", "upgrade", iso, "--yes", "--step"],
        &[],
    );
    assert_eq!(code(&o), 0, "{}", describe(&o));
    check(
        "ha-upgrade",
        &serde_json::from_slice(&o.stdout).unwrap(),
        "ha upgrade --step",
    );
    assert!(check_progress_lines(&String::from_utf8_lossy(&o.stderr), "ha upgrade") > 0);
    check("ha-status", &l.status(true), "ha status under way");
    let o = l.on(true, &["--json", "ha", "abandon"], &[]);
    assert_eq!(code(&o), 0, "{}", describe(&o));
    check(
        "ha-abandon",
        &serde_json::from_slice(&o.stdout).unwrap(),
        "ha abandon",
    );
    // A stop: no confirmation without a terminal, at the power-off.
    let o = l.on(true, &["--json", "ha", "upgrade", iso], &[]);
    assert_eq!(code(&o), 1, "{}", describe(&o));
    check(
        "error",
        &serde_json::from_slice(&o.stdout).unwrap(),
        "ha upgrade stopped",
    );
    check_progress_lines(&String::from_utf8_lossy(&o.stderr), "ha upgrade stopped");
    // To the end.
    let o = l.on(true, &["--json", "ha", "upgrade", "--yes"], &[]);
    assert_eq!(code(&o), 0, "{}", describe(&o));
    let doc: Value = serde_json::from_slice(&o.stdout).unwrap();
    check("ha-upgrade", &doc, "ha upgrade");
    assert_eq!(doc["progress"]["done"].as_array().unwrap().len(), 10);
    check_progress_lines(&String::from_utf8_lossy(&o.stderr), "ha upgrade");
    check("ha-status", &l.status(true), "ha status after");
}
