//! The vendor guides' prerequisites, listed once: the console shows them for the
//! operator to tick, and the upgrade test (`check`) reports those it can see for
//! itself (HA without IPMI, a virtual appliance) as findings.

use crate::appliance::config::{Config, Platform};
use crate::check::finding::{Finding, Report, Severity};

/// One prerequisite for this appliance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prerequisite {
    /// Stable name; the same as the rule of the upgrade test's finding about it,
    /// so ticking it can settle that finding.
    pub id: &'static str,
    pub text: String,
    pub detail: String,
}

/// The prerequisites that apply to this appliance, in the order the guides give
/// them. `crash_files` is the number of files in var/crash.
pub fn list(config: Option<&Config>, crash_files: usize) -> Vec<Prerequisite> {
    let p = |id, text: &str, detail: String| Prerequisite {
        id,
        text: text.into(),
        detail,
    };
    let mut v = vec![
        p(
            "backup",
            "Configuration and data backed up",
            "Run a configuration and data backup and check that it completed.".into(),
        ),
        p(
            "config-export",
            "Configuration exported",
            "Export the configuration and keep the file off the appliance.".into(),
        ),
        p(
            "system-monitor",
            "System Monitor shows no open issues",
            "Resolve every open alert first; the upgrade test checks it too.".into(),
        ),
        p(
            "core-dumps",
            "Core dumps saved",
            if crash_files > 0 {
                format!(
                    "{crash_files} core dump file(s) in var/crash are removed by the upgrade: download those you need."
                )
            } else {
                "var/crash is empty: nothing to save.".to_string()
            },
        ),
    ];
    if let Some(c) = config {
        if c.appliance.platform == Platform::Virtual {
            v.push(p(
                "vm-snapshot",
                "Virtual machine snapshot taken",
                "Take a snapshot in the hypervisor before activating.".into(),
            ));
            v.push(p(
                "console-redirection",
                "Console redirection enabled",
                "Enable the VM's console redirection if the hypervisor allows it, to follow the boot.".into(),
            ));
        }
        if c.ha.is_some() {
            v.push(p(
                "ha-ipmi",
                "IPMI access to the other node works",
                "The other node can only be powered on again through IPMI.".into(),
            ));
        }
        if c.product
            .get("plugins")
            .and_then(|x| x.as_array())
            .is_some_and(|a| !a.is_empty())
        {
            v.push(p(
                "plugins",
                "Plugin updates downloaded",
                "Get the plugin versions that support the new firmware.".into(),
            ));
        }
    }
    v.push(p(
        "licence-file",
        "Licence for the new firmware at hand",
        "A new LTS line needs a new licence file: request it before you start.".into(),
    ));
    v
}

/// What the upgrade test can see for itself about the prerequisites.
pub fn findings(config: &Config) -> Vec<Finding> {
    let mut out = vec![];
    for p in list(Some(config), 0) {
        match p.id {
            "ha-ipmi" => {
                if let Some(ha) = &config.ha
                    && ha.bmc.is_none()
                {
                    out.push(
                        Finding::blocker("ha-ipmi", "an HA pair needs IPMI access to the other node: it can only be powered on through IPMI")
                            .value(ha.peer)
                            .at("etc/appliance/appliance.toml: ha.bmc")
                            .fix("Connect and configure the other node's IPMI interface and set ha.bmc (host, user, password_file)."),
                    );
                }
            }
            "vm-snapshot" => out.push(
                Finding::warning("vm-snapshot", "a virtual appliance: take a snapshot of the virtual machine before activating")
                    .value("platform = \"virtual\"")
                    .at("etc/appliance/appliance.toml: appliance.platform")
                    .fix("Create a VM snapshot in the hypervisor and enable console redirection if it allows it."),
            ),
            _ => {}
        }
    }
    out
}

/// Drops the warnings the operator has settled by ticking the prerequisite of the
/// same name (a ticked "VM snapshot taken" answers the snapshot warning). Blockers
/// stay: ticking a box does not configure IPMI. A check left without findings
/// says so in its summary.
pub fn settle_ticked(report: &mut Report, ticked: &[&str]) {
    for c in &mut report.checks {
        let before = c.findings.len();
        c.findings
            .retain(|f| f.severity == Severity::Blocker || !ticked.contains(&f.rule.as_str()));
        if c.findings.len() < before {
            c.summary = format!("{} (confirmed in the prerequisites)", c.summary);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticking_settles_warnings_not_blockers() {
        let mut r = Report::default();
        r.push(
            "prerequisites",
            "HA access, platform",
            vec![
                Finding::warning("vm-snapshot", "take a snapshot"),
                Finding::blocker("ha-ipmi", "no IPMI"),
            ],
        );
        r.push(
            "core-dumps",
            "1 file",
            vec![Finding::warning("core-dumps", "1 file")],
        );
        settle_ticked(&mut r, &["vm-snapshot", "core-dumps", "ha-ipmi"]);
        assert_eq!(r.warnings(), 0);
        assert_eq!(r.blockers(), 1);
        assert!(r.checks[1].summary.contains("confirmed"));
    }

    #[test]
    fn ids_are_unique() {
        let l = list(None, 2);
        let mut ids: Vec<_> = l.iter().map(|p| p.id).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), l.len());
        assert!(l.iter().any(|p| p.detail.contains("2 core dump")));
    }
}
