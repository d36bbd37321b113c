//! The rules over `[product]` settings and the appliance's status files: numeric
//! ranges and minimums, reserved names, IDNA hostnames, plugin and indexer
//! versions, HA state, System Monitor alerts, core dumps, and unknown kinds.

use crate::support::rules::{appliance, assert_finding};
use upgrade_core::check::finding::Severity::{Blocker, Warning};
use upgrade_core::check::rules::RuleError;

const RANGE: &str = r#"
[[rules]]
kind = "numeric-range"
key = "disk_fillup_prevention_percent"
min = 50
max = 98
"#;

#[test]
fn disk_fillup_prevention_range_boundaries() {
    let a = appliance();
    for ok in ["50", "80", "98", "97.5"] {
        let c = a.config("", &format!("disk_fillup_prevention_percent = {ok}"));
        assert_eq!(a.findings(&c, RANGE, None), vec![], "{ok}");
    }
    for (bad, set_to) in [("49", "50"), ("99", "98"), ("0", "50")] {
        let c = a.config("", &format!("disk_fillup_prevention_percent = {bad}"));
        let f = a.findings(&c, RANGE, None);
        assert_eq!(f.len(), 1, "{bad}: {f:#?}");
        assert_finding(
            &f[0],
            "numeric-range",
            Blocker,
            bad,
            "etc/appliance/appliance.toml: product.disk_fillup_prevention_percent",
            &format!("Set product.disk_fillup_prevention_percent to {set_to}"),
        );
        assert_eq!(f[0].value, bad);
    }
    let c = a.config("", "disk_fillup_prevention_percent = \"eighty\"");
    let f = a.findings(&c, RANGE, None);
    assert_finding(
        &f[0],
        "numeric-range",
        Blocker,
        "eighty",
        "product.disk_fillup_prevention_percent",
        "a number",
    );
    // Absent: the firmware's default applies, unless the rule requires it.
    let c = a.config("", "");
    assert_eq!(a.findings(&c, RANGE, None), vec![]);
    let f = a.findings(&c, &format!("{RANGE}required = true\n"), None);
    assert_finding(
        &f[0],
        "numeric-range",
        Blocker,
        "not set",
        "product.disk_fillup_prevention_percent",
        "Set",
    );
}

#[test]
fn ldap_timeout_minimum_and_dotted_keys() {
    let a = appliance();
    let rule = "[[rules]]\nkind = \"minimum\"\nkey = \"ldap_response_timeout_s\"\nmin = 120\n";
    let c = a.config("", "ldap_response_timeout_s = 120");
    assert_eq!(a.findings(&c, rule, None), vec![]);
    let c = a.config("", "ldap_response_timeout_s = 119");
    let f = a.findings(&c, rule, None);
    assert_eq!(f.len(), 1);
    assert_finding(
        &f[0],
        "minimum",
        Blocker,
        "119",
        "product.ldap_response_timeout_s",
        "to 120",
    );
    let rule = "[[rules]]\nkind = \"minimum\"\nkey = \"ldap.timeout\"\nmin = 120\n";
    let c = a.config("", "[product.ldap]\ntimeout = 30");
    let f = a.findings(&c, rule, None);
    assert_finding(
        &f[0],
        "minimum",
        Blocker,
        "30",
        "product.ldap.timeout",
        "120",
    );
}

const RESERVED: &str = r#"
[[rules]]
kind = "reserved-names"
key = "rdp_settings"
names = ["legacy_default", "default_nla"]
below = "6.8.0"
"#;

#[test]
fn reserved_rdp_setting_names_only_below_6_8() {
    let a = appliance();
    let c = a.config(
        "",
        "rdp_settings = [\"custom\", \"default_nla\", { name = \"Legacy_Default\" }]",
    );
    let f = a.findings(&c, RESERVED, Some("6.7.2"));
    assert_eq!(f.len(), 2, "{f:#?}");
    assert_finding(
        &f[0],
        "reserved-names",
        Blocker,
        "default_nla",
        "product.rdp_settings[1]",
        "Rename the setting \"default_nla\"",
    );
    assert_finding(
        &f[1],
        "reserved-names",
        Blocker,
        "Legacy_Default",
        "product.rdp_settings[2]",
        "Rename",
    );
    assert!(f[0].message.contains("6.7.2"), "{}", f[0].message);
    assert_eq!(a.findings(&c, RESERVED, Some("6.8.0")), vec![]);
    assert_eq!(a.findings(&c, RESERVED, Some("7.0.1")), vec![]);
    // An unknown running version cannot be shown to be above 6.8.0.
    assert_eq!(a.findings(&c, RESERVED, None).len(), 2);
    let c = a.config("", "rdp_settings = [\"custom\", \"default\"]");
    assert_eq!(a.findings(&c, RESERVED, Some("6.7.2")), vec![]);
}

#[test]
fn inband_hostnames_must_be_idna_domain_names() {
    let a = appliance();
    let rule = "[[rules]]\nkind = \"idna-hostnames\"\nkey = \"inband_hostnames\"\n";
    let good = "inband_hostnames = [\"server.example.com\", \"bücher.example\", \"xn--bcher-kva.example\", \"host-1.example.\"]";
    let c = a.config("", good);
    assert_eq!(a.findings(&c, rule, None), vec![]);
    let c = a.config(
        "",
        "inband_hostnames = [\"ok.example\", \"under_score.example\", \"-lead.example\", \"a..b\", \"xn--zz.example\", \"sp ace.example\"]",
    );
    let f = a.findings(&c, rule, None);
    let values: Vec<_> = f.iter().map(|f| f.value.as_str()).collect();
    assert_eq!(
        values,
        [
            "under_score.example",
            "-lead.example",
            "a..b",
            "xn--zz.example",
            "sp ace.example"
        ],
        "{f:#?}"
    );
    assert_finding(
        &f[0],
        "idna-hostnames",
        Blocker,
        "under_score",
        "product.inband_hostnames[1]",
        "valid domain name",
    );
    assert!(f[0].message.contains("'_'"), "{f:#?}");
    let long = format!("inband_hostnames = [\"{}.example\"]", "a".repeat(64));
    let c = a.config("", &long);
    assert_eq!(a.findings(&c, rule, None).len(), 1);
    // Addresses and networks in a destination list are not host names.
    let c = a.config(
        "",
        "inband_hostnames = [\"10.0.0.1\", \"10.0.0.0/8\", \"2001:db8::1\", \"[2001:db8::2]\", \"2001:db8::/32\"]",
    );
    assert_eq!(a.findings(&c, rule, None), vec![]);
}

#[test]
fn plugin_minimum_versions() {
    let a = appliance();
    let rule = "[[rules]]\nkind = \"plugin-versions\"\nminimums = { credstore = \"2.2.0\", ticketing = \"1.4\" }\n";
    let c = a.config(
        "",
        "plugins = [{ name = \"credstore\", version = \"2.1.9\" }, { name = \"ticketing\", version = \"1.4.0\" }, { name = \"other\", version = \"0.1\" }]",
    );
    let f = a.findings(&c, rule, None);
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_finding(
        &f[0],
        "plugin-versions",
        Blocker,
        "credstore 2.1.9",
        "product.plugins[0].version",
        "2.2.0 or later",
    );
    let c = a.config("", "plugins = [{ name = \"credstore\", version = \"2.10\" }, { name = \"ticketing\", version = \"beta\" }]");
    let f = a.findings(&c, rule, None);
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_finding(
        &f[0],
        "plugin-versions",
        Blocker,
        "ticketing beta",
        "product.plugins[1].version",
        "as numbers",
    );
}

#[test]
fn external_indexers_at_least_the_firmware_version() {
    let a = appliance();
    let rule = "[[rules]]\nkind = \"indexer-versions\"\n";
    let c = a.config(
        "",
        "external_indexers = [{ host = \"idx-1\", version = \"7.3.1\" }, { host = \"idx-2\", version = \"7.3\" }, { host = \"idx-3\", version = \"8.0\" }]",
    );
    let f = a.findings(&c, rule, None);
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_finding(
        &f[0],
        "indexer-versions",
        Blocker,
        "idx-2 7.3",
        "product.external_indexers[1].version",
        "idx-2 to 7.3.1 or later",
    );
}

#[test]
fn ha_pair_must_not_be_degraded() {
    let a = appliance();
    let rule = "[[rules]]\nkind = \"ha-healthy\"\n";
    let standalone = a.config("", "");
    assert_eq!(a.findings(&standalone, rule, None), vec![]);
    let ha = "[ha]\nrole = \"primary\"\npeer = \"10.0.0.2\"\nstatus_file = \"var/lib/appliance/ha.json\"\n";
    let c = a.config(ha, "");
    a.write("var/lib/appliance/ha.json", r#"{"state":"ok"}"#);
    assert_eq!(a.findings(&c, rule, None), vec![]);
    a.write(
        "var/lib/appliance/ha.json",
        r#"{"state":"degraded","since":"x"}"#,
    );
    let f = a.findings(&c, rule, None);
    assert_finding(
        &f[0],
        "ha-healthy",
        Blocker,
        "degraded",
        "var/lib/appliance/ha.json: state",
        "healthy",
    );
    a.write("var/lib/appliance/ha.json", "{not json");
    let f = a.findings(&c, rule, None);
    assert_finding(
        &f[0],
        "ha-healthy",
        Blocker,
        "var/lib/appliance/ha.json",
        "ha.status_file",
        "HA daemon",
    );
    let c = a.config("[ha]\nrole = \"primary\"\npeer = \"10.0.0.2\"\n", "");
    let f = a.findings(&c, rule, None);
    assert_finding(
        &f[0],
        "ha-healthy",
        Blocker,
        "none",
        "ha.status_file",
        "ha.status_file",
    );
}

#[test]
fn open_system_monitor_alerts_block() {
    let a = appliance();
    let rule = "[[rules]]\nkind = \"monitor-clean\"\n";
    let c = a.config("", "");
    let f = a.findings(&c, rule, None);
    assert_finding(
        &f[0],
        "monitor-clean",
        Blocker,
        "var/lib/appliance/monitor.json",
        "monitor.status_file",
        "System Monitor",
    );
    a.write("var/lib/appliance/monitor.json", r#"{"alerts":[]}"#);
    assert_eq!(a.findings(&c, rule, None), vec![]);
    a.write(
        "var/lib/appliance/monitor.json",
        r#"{"alerts":[{"id":"disk-usage","text":"Disk usage above 90 %"},{"id":7,"text":"Time sync lost"}]}"#,
    );
    let f = a.findings(&c, rule, None);
    assert_eq!(f.len(), 2);
    assert_finding(
        &f[0],
        "monitor-clean",
        Blocker,
        "disk-usage",
        "monitor.json: alerts[0]",
        "Resolve",
    );
    assert!(f[0].message.contains("Disk usage above 90 %"));
    assert_finding(&f[1], "monitor-clean", Blocker, "7", "alerts[1]", "Resolve");
}

#[test]
fn core_dumps_are_a_warning_with_count_and_size() {
    let a = appliance();
    let rule = "[[rules]]\nkind = \"core-dumps\"\n";
    let c = a.config("", "");
    assert_eq!(a.findings(&c, rule, None), vec![]);
    a.write("var/crash/core.sshd.123", &"x".repeat(1024));
    a.write("var/crash/proxy/core.proxy.9", &"y".repeat(2048));
    let f = a.findings(&c, rule, None);
    assert_eq!(f.len(), 1);
    assert_finding(
        &f[0],
        "core-dumps",
        Warning,
        "2 file(s), 3.0 KiB",
        "var/crash",
        "copy them off",
    );
}

#[test]
fn unknown_kinds_and_parameters_are_errors_naming_them() {
    let a = appliance();
    let c = a.config("", "");
    let e = a
        .eval(&c, "[[rules]]\nkind = \"quantum-keys\"\n", None)
        .unwrap_err();
    assert_eq!(
        e,
        RuleError::UnknownKind {
            kind: "quantum-keys".into()
        }
    );
    let text = e.to_string();
    assert!(
        text.contains("\"quantum-keys\"") && text.contains("update upgrade-console"),
        "{text}"
    );
    let e = a
        .eval(&c, &format!("{RANGE}maximum = 3\n"), None)
        .unwrap_err();
    assert!(
        matches!(&e, RuleError::BadParams { kind, problem } if kind == "numeric-range" && problem.contains("maximum")),
        "{e}"
    );
    let e = a
        .eval(
            &c,
            "[[rules]]\nkind = \"numeric-range\"\nkey = \"x\"\nmin = 9\nmax = 1\n",
            None,
        )
        .unwrap_err();
    assert!(e.to_string().contains("above max"), "{e}");
    let e = a
        .eval(
            &c,
            "[[rules]]\nkind = \"reserved-names\"\nkey = \"x\"\nnames = [\"a\"]\nbelow = \"six\"\n",
            None,
        )
        .unwrap_err();
    assert!(e.to_string().contains("\"six\""), "{e}");
}

#[test]
fn one_outcome_per_rule_in_manifest_order() {
    let a = appliance();
    let c = a.config("", "disk_fillup_prevention_percent = 80");
    let rules = format!("{RANGE}{RESERVED}[[rules]]\nkind = \"core-dumps\"\n");
    let out = a.eval(&c, &rules, Some("7.0.1")).unwrap();
    let checks: Vec<_> = out.iter().map(|o| o.check.as_str()).collect();
    assert_eq!(checks, ["numeric-range", "reserved-names", "core-dumps"]);
    assert!(out[0].summary.contains("50–98"), "{}", out[0].summary);
}
