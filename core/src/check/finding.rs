//! A finding of the upgrade test: which rule, how serious, the offending value,
//! where it is, and the one-sentence fix. Every check produces these.

use serde::Serialize;
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The upgrade must not start until this is fixed.
    Blocker,
    /// The upgrade may go on, but the operator must know.
    Warning,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Blocker => "BLOCKER",
            Severity::Warning => "WARNING",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Stable rule id, e.g. `upgrade-path`, `free-space`, `tls-key-size`.
    pub rule: String,
    pub severity: Severity,
    /// What is wrong, in one sentence.
    pub message: String,
    /// The offending value as found.
    pub value: String,
    /// Where it is: file and key, or certificate subject and file.
    pub location: String,
    /// What to do, in one sentence.
    pub fix: String,
}

impl Finding {
    pub fn blocker(rule: &str, message: impl Into<String>) -> Self {
        Self::new(rule, Severity::Blocker, message)
    }
    pub fn warning(rule: &str, message: impl Into<String>) -> Self {
        Self::new(rule, Severity::Warning, message)
    }
    fn new(rule: &str, severity: Severity, message: impl Into<String>) -> Self {
        Finding {
            rule: rule.to_string(),
            severity,
            message: message.into(),
            value: String::new(),
            location: String::new(),
            fix: String::new(),
        }
    }
    pub fn value(mut self, v: impl ToString) -> Self {
        self.value = v.to_string();
        self
    }
    pub fn at(mut self, location: impl Into<String>) -> Self {
        self.location = location.into();
        self
    }
    pub fn fix(mut self, fix: impl Into<String>) -> Self {
        self.fix = fix.into();
        self
    }
}

/// The result of one check that ran: its id, a one-line summary, and its findings.
#[derive(Debug, Clone, Serialize)]
pub struct CheckOutcome {
    pub check: String,
    pub summary: String,
    pub findings: Vec<Finding>,
}

/// Everything `check` found, in a stable order.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Report {
    pub checks: Vec<CheckOutcome>,
}

impl Report {
    pub fn push(&mut self, check: &str, summary: impl Into<String>, findings: Vec<Finding>) {
        self.checks.push(CheckOutcome {
            check: check.to_string(),
            summary: summary.into(),
            findings,
        });
    }
    pub fn findings(&self) -> impl Iterator<Item = &Finding> {
        self.checks.iter().flat_map(|c| c.findings.iter())
    }
    pub fn blockers(&self) -> usize {
        self.findings()
            .filter(|f| f.severity == Severity::Blocker)
            .count()
    }
    pub fn warnings(&self) -> usize {
        self.findings()
            .filter(|f| f.severity == Severity::Warning)
            .count()
    }
    pub fn passed(&self) -> bool {
        self.blockers() == 0
    }
}
