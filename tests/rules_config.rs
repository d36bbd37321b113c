//! The configuration-value rules (numeric ranges and minimums, reserved names, IDNA
//! host names, minimum versions), the always-on appliance-state checks (HA, System
//! Monitor, core dumps), and the manifest errors (unknown kind, bad parameters).
//! Each case is named after the rule it breaks, with the finding asserted.

mod rules_support;

use rules_support::*;
use upgrade_console::finding::Severity::{Blocker, Warning};
use upgrade_console::root::ApplianceRoot;
use upgrade_console::rules::RuleError;

const DISK: &str = r#"[[rules]]
kind = "numeric-range"
id = "disk-fillup-range"
key = "disk_fillup_prevention_percent"
min = 50
max = 98
unit = "%"
"#;

const LDAP: &str = r#"[[rules]]
kind = "numeric-range"
id = "ldap-timeout"
key = "ldap_response_timeout_s"
min = 120
unit = "s"
"#;

fn scratch() -> (tempfile::TempDir, ApplianceRoot) {
    let d = tempfile::tempdir().unwrap();
    let r = ApplianceRoot::new(d.path());
    (d, r)
}

#[test]
fn disk_fillup_prevention_range_boundaries() {
    let (_d, root) = scratch();
    for (v, bad) in [(49, true), (50, false), (98, false), (99, true)] {
        let cfg = config(&format!(
            "[product]\ndisk_fillup_prevention_percent = {v}\n"
        ));
        let all = run(&root, &cfg, DISK, "7.0.1").unwrap();
        let o = outcome(&all, "disk-fillup-range");
        assert_eq!(o.findings.len(), bad as usize, "{v}: {o:#?}");
        assert_eq!(
            o.summary,
            format!("disk_fillup_prevention_percent = {v} %; must be between 50 % and 98 %")
        );
        if bad {
            assert_finding(
                &o.findings[0],
                "disk-fillup-range",
                Blocker,
                &format!("{v} %"),
                "etc/appliance/appliance.toml: product.disk_fillup_prevention_percent",
                "between 50 % and 98 %",
            );
        }
    }
    // Not a number: a blocker naming the value; absent: the firmware default.
    let cfg = config("[product]\ndisk_fillup_prevention_percent = \"eighty\"\n");
    let all = run(&root, &cfg, DISK, "7.0.1").unwrap();
    assert_finding(
        &outcome(&all, "disk-fillup-range").findings[0],
        "disk-fillup-range",
        Blocker,
        "eighty",
        "product.disk_fillup_prevention_percent",
        "between 50 % and 98 %",
    );
    let all = run(&root, &config(""), DISK, "7.0.1").unwrap();
    assert!(outcome(&all, "disk-fillup-range").findings.is_empty());
    let required = format!("{DISK}required = true\n");
    let all = run(&root, &config(""), &required, "7.0.1").unwrap();
    assert_finding(
        &outcome(&all, "disk-fillup-range").findings[0],
        "disk-fillup-range",
        Blocker,
        "not set",
        "product.disk_fillup_prevention_percent",
        "Set product.disk_fillup_prevention_percent",
    );
}

#[test]
fn ldap_timeout_minimum() {
    let (_d, root) = scratch();
    let cfg = config("[product]\nldap_response_timeout_s = 119\n");
    let all = run(&root, &cfg, LDAP, "7.0.1").unwrap();
    let o = outcome(&all, "ldap-timeout");
    assert_eq!(o.findings.len(), 1);
    assert_finding(
        &o.findings[0],
        "ldap-timeout",
        Blocker,
        "119 s",
        "product.ldap_response_timeout_s",
        "at least 120 s",
    );
    let cfg = config("[product]\nldap_response_timeout_s = 120\n");
    let all = run(&root, &cfg, LDAP, "7.0.1").unwrap();
    assert!(outcome(&all, "ldap-timeout").findings.is_empty());
    // Dotted keys reach nested tables; the default id is the key.
    let rule = "[[rules]]\nkind = \"numeric-range\"\nkey = \"ldap.timeout_s\"\nmin = 120\n";
    let cfg = config("[product.ldap]\ntimeout_s = 30.5\n");
    let all = run(&root, &cfg, rule, "7.0.1").unwrap();
    assert_finding(
        &outcome(&all, "ldap-timeout-s").findings[0],
        "ldap-timeout-s",
        Blocker,
        "30.5",
        "product.ldap.timeout_s",
        "at least 120",
    );
}

const RDP: &str = r#"[[rules]]
kind = "reserved-names"
id = "rdp-reserved-names"
key = "rdp_settings"
names = ["legacy_default", "default_nla"]
below = "6.8"
what = "RDP setting"
"#;

#[test]
fn reserved_rdp_names_when_upgrading_from_below_6_8() {
    let (_d, root) = scratch();
    let cfg = config("[product]\nrdp_settings = [\"default\", \"Default_NLA\", \"custom\"]\n");
    let all = run(&root, &cfg, RDP, "6.7.2").unwrap();
    let o = outcome(&all, "rdp-reserved-names");
    assert_eq!(o.findings.len(), 1, "{o:#?}");
    assert_finding(
        &o.findings[0],
        "rdp-reserved-names",
        Blocker,
        "Default_NLA",
        "etc/appliance/appliance.toml: product.rdp_settings[1]",
        "Rename the RDP setting \"Default_NLA\"",
    );
    // From 6.8.0 on the names are the firmware's own: nothing to rename.
    let all = run(&root, &cfg, RDP, "6.8").unwrap();
    assert!(outcome(&all, "rdp-reserved-names").findings.is_empty());
    // Tables with a name work too.
    let cfg = config("[product]\nrdp_settings = [{ name = \"legacy_default\", nla = false }]\n");
    let all = run(&root, &cfg, RDP, "6.1").unwrap();
    assert_finding(
        &outcome(&all, "rdp-reserved-names").findings[0],
        "rdp-reserved-names",
        Blocker,
        "legacy_default",
        "product.rdp_settings[0].name",
        "Rename",
    );
}

#[test]
fn idna_hostnames_for_inband_destination_selection() {
    let (_d, root) = scratch();
    let rule = "[[rules]]\nkind = \"idna-hostnames\"\nkeys = [\"inband_destinations\", \"external_indexers.host\"]\n";
    let cfg = config(
        r#"[product]
inband_destinations = ["files.example.com", "bücher.example", "*.srv.example.com", "10.1.0.0/16", "db_server.example.com", "-jump.example.com"]
external_indexers = [{ host = "idx-1.example.com", version = "7.3.1" }, { host = "idx 2", version = "7.3.1" }]
"#,
    );
    let all = run(&root, &cfg, rule, "7.0.1").unwrap();
    let o = outcome(&all, "idna-hostnames");
    assert_eq!(o.summary, "8 host name(s) checked against IDNA (RFC 5890)");
    assert_eq!(o.findings.len(), 3, "{o:#?}");
    assert_finding(
        &o.findings[0],
        "idna-hostnames",
        Blocker,
        "db_server.example.com",
        "product.inband_destinations[4]",
        "replace '_' with '-'",
    );
    assert!(o.findings[0].message.contains("'_'"), "{o:#?}");
    assert_finding(
        &o.findings[1],
        "idna-hostnames",
        Blocker,
        "-jump.example.com",
        "product.inband_destinations[5]",
        "compliant name",
    );
    assert_finding(
        &o.findings[2],
        "idna-hostnames",
        Blocker,
        "idx 2",
        "product.external_indexers[1].host",
        "compliant name",
    );
}

const PLUGINS: &str = r#"[[rules]]
kind = "min-version"
id = "plugin-versions"
key = "plugins"
minimums = { credstore = "2.2.0", starling-2fa = "2.2.0" }
"#;

const INDEXERS: &str = r#"[[rules]]
kind = "min-version"
id = "indexer-versions"
key = "external_indexers"
name_field = "host"
minimum = "firmware"
what = "external indexer"
"#;

#[test]
fn plugin_and_indexer_minimum_versions() {
    let (_d, root) = scratch();
    let cfg = config(
        r#"[product]
plugins = [{ name = "credstore", version = "2.1.9" }, { name = "starling-2fa", version = "2.2.0" }, { name = "other", version = "0.1" }, { name = "CredStore", version = "two" }]
external_indexers = [{ host = "idx-1", version = "7.3.1" }, { host = "idx-2", version = "7.0.1" }, { host = "idx-3" }]
"#,
    );
    let rules = format!("{PLUGINS}\n{INDEXERS}");
    let all = run(&root, &cfg, &rules, "7.0.1").unwrap();
    let p = outcome(&all, "plugin-versions");
    assert_eq!(
        p.summary,
        "3 plugin(s) checked, need their minimum versions"
    );
    assert_eq!(p.findings.len(), 2, "{p:#?}");
    assert_finding(
        &p.findings[0],
        "plugin-versions",
        Blocker,
        "2.1.9",
        "product.plugins[0].version",
        "Upgrade the plugin \"credstore\" to version 2.2 or later",
    );
    assert!(p.findings[1].message.contains("not a version"), "{p:#?}");

    let i = outcome(&all, "indexer-versions");
    assert_eq!(
        i.summary,
        "3 external indexer(s) checked, need at least 7.3.1"
    );
    assert_eq!(i.findings.len(), 2, "{i:#?}");
    assert_finding(
        &i.findings[0],
        "indexer-versions",
        Blocker,
        "7.0.1",
        "product.external_indexers[1].version",
        "Upgrade the external indexer \"idx-2\" to version 7.3.1 or later",
    );
    assert_finding(
        &i.findings[1],
        "indexer-versions",
        Blocker,
        "not set",
        "product.external_indexers[2].version",
        "idx-3",
    );
}

fn ha_config(status_file: Option<&str>) -> upgrade_console::config::Config {
    let file = status_file
        .map(|f| format!("status_file = \"{f}\"\n"))
        .unwrap_or_default();
    config(&format!(
        "[ha]\nrole = \"primary\"\npeer = \"10.0.0.2\"\n{file}"
    ))
}

#[test]
fn ha_must_not_be_degraded() {
    let (_d, root) = scratch();
    let f = "var/lib/appliance/ha.json";
    std::fs::create_dir_all(root.resolve("var/lib/appliance")).unwrap();

    std::fs::write(root.resolve(f), r#"{"state": "ok"}"#).unwrap();
    let all = run(&root, &ha_config(Some(f)), "", "7.0.1").unwrap();
    assert!(outcome(&all, "ha-status").findings.is_empty());

    std::fs::write(
        root.resolve(f),
        r#"{"state": "degraded", "detail": "secondary not synchronised"}"#,
    )
    .unwrap();
    let all = run(&root, &ha_config(Some(f)), "", "7.0.1").unwrap();
    let o = outcome(&all, "ha-status");
    assert_finding(
        &o.findings[0],
        "ha-status",
        Blocker,
        "degraded",
        f,
        "Bring the HA pair back in sync",
    );
    assert!(o.findings[0].message.contains("secondary not synchronised"));

    std::fs::write(root.resolve(f), "{ not json").unwrap();
    let all = run(&root, &ha_config(Some(f)), "", "7.0.1").unwrap();
    assert_finding(
        &outcome(&all, "ha-status").findings[0],
        "ha-status",
        Blocker,
        f,
        f,
        "HA",
    );

    let all = run(&root, &ha_config(Some("var/nothing.json")), "", "7.0.1").unwrap();
    assert_eq!(outcome(&all, "ha-status").findings[0].severity, Warning);
    let all = run(&root, &ha_config(None), "", "7.0.1").unwrap();
    assert_finding(
        &outcome(&all, "ha-status").findings[0],
        "ha-status",
        Warning,
        "not set",
        "ha.status_file",
        "High Availability",
    );
    // A standalone node has nothing to check.
    let all = run(&root, &config(""), "", "7.0.1").unwrap();
    let o = outcome(&all, "ha-status");
    assert!(o.findings.is_empty());
    assert_eq!(o.summary, "standalone node, no HA pair");
}

#[test]
fn open_system_monitor_alerts_block() {
    let (_d, root) = scratch();
    let f = "var/lib/appliance/monitor.json";
    std::fs::create_dir_all(root.resolve("var/lib/appliance")).unwrap();
    std::fs::write(
        root.resolve(f),
        r#"{"alerts": [
            {"id": "raid-degraded", "text": "RAID array degraded"},
            {"id": "disk-80", "text": "disk 80 % used", "state": "resolved"},
            {"id": 7, "text": "time not synchronised", "open": true}
        ]}"#,
    )
    .unwrap();
    let all = run(&root, &config(""), "", "7.0.1").unwrap();
    let o = outcome(&all, "monitor-alerts");
    assert_eq!(o.summary, "2 open alert(s)");
    assert_eq!(o.findings.len(), 2, "{o:#?}");
    assert_finding(
        &o.findings[0],
        "monitor-alerts",
        Blocker,
        "raid-degraded",
        f,
        "Resolve the alert",
    );
    assert!(o.findings[0].message.contains("RAID array degraded"));
    assert_eq!(o.findings[1].value, "7");

    std::fs::write(root.resolve(f), r#"{"alerts": []}"#).unwrap();
    let all = run(&root, &config(""), "", "7.0.1").unwrap();
    assert!(outcome(&all, "monitor-alerts").findings.is_empty());

    std::fs::remove_file(root.resolve(f)).unwrap();
    let all = run(&root, &config(""), "", "7.0.1").unwrap();
    assert_eq!(
        outcome(&all, "monitor-alerts").findings[0].severity,
        Warning
    );
}

#[test]
fn core_dumps_are_a_warning_with_count_and_size() {
    let (_d, root) = scratch();
    let all = run(&root, &config(""), "", "7.0.1").unwrap();
    let o = outcome(&all, "crash-dumps");
    assert!(o.findings.is_empty());
    assert_eq!(o.summary, "no core dumps");

    std::fs::create_dir_all(root.resolve("var/crash/indexer")).unwrap();
    std::fs::write(root.resolve("var/crash/core.sshd.101"), vec![0u8; 1 << 20]).unwrap();
    std::fs::write(
        root.resolve("var/crash/indexer/core.indexer.202"),
        vec![0u8; 1 << 19],
    )
    .unwrap();
    let all = run(&root, &config(""), "", "7.0.1").unwrap();
    let o = outcome(&all, "crash-dumps");
    assert_eq!(o.summary, "2 core dump(s), 1.5 MiB");
    assert_finding(
        &o.findings[0],
        "crash-dumps",
        Warning,
        "2 file(s), 1.5 MiB",
        "var/crash",
        "bundle",
    );
}

#[test]
fn outcomes_follow_the_manifest_then_the_always_on_checks() {
    let (_d, root) = scratch();
    let rules = format!("{LDAP}\n{DISK}\n[[rules]]\nkind = \"tls-keys\"\n");
    let all = run(&root, &config(""), &rules, "7.0.1").unwrap();
    let ids: Vec<&str> = all.iter().map(|c| c.check.as_str()).collect();
    assert_eq!(
        ids,
        [
            "ldap-timeout",
            "disk-fillup-range",
            "tls-keys",
            "ha-status",
            "monitor-alerts",
            "crash-dumps"
        ]
    );
}

#[test]
fn an_unknown_rule_kind_is_an_error_naming_it() {
    let (_d, root) = scratch();
    let rules = format!("{DISK}\n[[rules]]\nkind = \"quantum-keys\"\nbits = 4096\n");
    let e = run(&root, &config(""), &rules, "7.0.1").unwrap_err();
    assert!(
        matches!(&e, RuleError::UnknownKind { kind } if kind == "quantum-keys"),
        "{e:?}"
    );
    let msg = e.to_string();
    assert!(msg.contains("\"quantum-keys\""), "{msg}");
    assert!(msg.contains("newer firmware than this console"), "{msg}");
    assert!(msg.contains("update the console"), "{msg}");
}

#[test]
fn bad_rule_parameters_are_errors() {
    let (_d, root) = scratch();
    let cases = [
        (
            "[[rules]]\nkind = \"numeric-range\"\nkey = \"x\"\n",
            "numeric-range",
            "neither min nor max",
        ),
        (
            "[[rules]]\nkind = \"numeric-range\"\nkey = \"x\"\nmin = 9\nmax = 1\n",
            "numeric-range",
            "min 9 above max 1",
        ),
        (
            "[[rules]]\nkind = \"numeric-range\"\nmin = 1\n",
            "numeric-range",
            "key",
        ),
        (
            "[[rules]]\nkind = \"numeric-range\"\nkey = \"x\"\nmin = \"fifty\"\n",
            "numeric-range",
            "min",
        ),
        (
            "[[rules]]\nkind = \"tls-keys\"\nmin_rsa_bitz = 2048\n",
            "tls-keys",
            "min_rsa_bitz",
        ),
        (
            "[[rules]]\nkind = \"tls-keys\"\nrefused_hashes = [\"sha3\"]\n",
            "tls-keys",
            "sha3",
        ),
        (
            "[[rules]]\nkind = \"ssh-keys\"\nrefuse_dsa = \"yes\"\n",
            "ssh-keys",
            "refuse_dsa",
        ),
        (
            "[[rules]]\nkind = \"min-version\"\nkey = \"plugins\"\n",
            "min-version",
            "neither minimum nor minimums",
        ),
        (
            "[[rules]]\nkind = \"min-version\"\nkey = \"plugins\"\nminimum = \"soon\"\n",
            "min-version",
            "\"soon\"",
        ),
        (
            "[[rules]]\nkind = \"reserved-names\"\nkey = \"rdp_settings\"\nnames = [\"a\"]\nbelow = \"six\"\n",
            "reserved-names",
            "six",
        ),
        (
            "[[rules]]\nkind = \"idna-hostnames\"\n",
            "idna-hostnames",
            "keys",
        ),
    ];
    for (rules, kind, needle) in cases {
        let e = run(&root, &config(""), rules, "7.0.1").unwrap_err();
        match &e {
            RuleError::BadParams { kind: k, problem } => {
                assert_eq!(k, kind, "{rules}");
                assert!(problem.contains(needle), "{rules}: {problem}");
            }
            other => panic!("{rules}: {other:?}"),
        }
        assert!(e.to_string().contains("bad parameters"), "{e}");
    }
}
