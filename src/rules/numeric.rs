//! The `numeric-range` rule: a `[product]` number must lie in a range or above a
//! minimum the new firmware enforces (disk fill-up prevention 50-98 %, LDAP response
//! timeout at least 120 s).

use super::{RuleError, bad, product_location, show_value, values_at};
use crate::finding::{CheckOutcome, Finding};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RangeParams {
    pub key: String,
    #[serde(default)]
    pub min: Option<f64>,
    #[serde(default)]
    pub max: Option<f64>,
    #[serde(default)]
    pub unit: Option<String>,
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub required: bool,
}

impl RangeParams {
    pub fn validate(self) -> Result<Self, RuleError> {
        const K: &str = "numeric-range";
        if self.key.is_empty() || self.key.len() > 200 {
            return Err(bad(K, format!("key = \"{}\" is not a key", self.key)));
        }
        match (self.min, self.max) {
            (None, None) => Err(bad(
                K,
                format!("rule for \"{}\" has neither min nor max", self.key),
            )),
            (Some(a), Some(b)) if a > b => Err(bad(
                K,
                format!("rule for \"{}\" has min {a} above max {b}", self.key),
            )),
            (a, b) if a.is_some_and(|x| !x.is_finite()) || b.is_some_and(|x| !x.is_finite()) => {
                Err(bad(
                    K,
                    format!(
                        "rule for \"{}\" has a bound that is not a finite number",
                        self.key
                    ),
                ))
            }
            _ => Ok(self),
        }
    }

    /// The check id: `id`, or the key with `_` and `.` as `-`.
    pub fn check_id(&self) -> String {
        self.id
            .clone()
            .unwrap_or_else(|| self.key.replace(['_', '.'], "-"))
    }

    fn show(&self, x: f64) -> String {
        let n = if x.fract() == 0.0 && x.abs() < 1e15 {
            format!("{}", x as i64)
        } else {
            format!("{x}")
        };
        match self.unit.as_deref() {
            Some("%") => format!("{n} %"),
            Some(u) if !u.is_empty() => format!("{n} {u}"),
            _ => n,
        }
    }

    fn wanted(&self) -> String {
        match (self.min, self.max) {
            (Some(a), Some(b)) => format!("between {} and {}", self.show(a), self.show(b)),
            (Some(a), None) => format!("at least {}", self.show(a)),
            (None, Some(b)) => format!("at most {}", self.show(b)),
            (None, None) => "any value".into(),
        }
    }
}

/// Runs the rule over `[product]`.
pub fn check(product: &toml::Table, p: &RangeParams) -> CheckOutcome {
    let id = p.check_id();
    let mut findings = Vec::new();
    let values = values_at(product, &p.key);
    let fix = format!(
        "Set product.{} to a value {} (on the appliance: the corresponding setting), then run the test again.",
        p.key,
        p.wanted()
    );
    if values.is_empty() && p.required {
        findings.push(
            Finding::blocker(
                &id,
                format!(
                    "product.{} is not set; the new firmware needs it {}",
                    p.key,
                    p.wanted()
                ),
            )
            .value("not set")
            .at(product_location(&p.key))
            .fix(fix.clone()),
        );
    }
    let mut seen = Vec::new();
    for (key, v) in &values {
        let x = match v {
            toml::Value::Integer(i) => *i as f64,
            toml::Value::Float(f) => *f,
            other => {
                findings.push(
                    Finding::blocker(&id, format!("product.{key} is not a number"))
                        .value(show_value(other))
                        .at(product_location(key))
                        .fix(fix.clone()),
                );
                continue;
            }
        };
        seen.push(p.show(x));
        let below = p.min.is_some_and(|m| x < m);
        let above = p.max.is_some_and(|m| x > m);
        if below || above {
            findings.push(
                Finding::blocker(
                    &id,
                    format!(
                        "product.{key} is {}; the new firmware needs a value {}",
                        p.show(x),
                        p.wanted()
                    ),
                )
                .value(p.show(x))
                .at(product_location(key))
                .fix(fix.clone()),
            );
        }
    }
    let summary = if seen.is_empty() {
        format!(
            "{} not set (firmware default); must be {}",
            p.key,
            p.wanted()
        )
    } else {
        format!("{} = {}; must be {}", p.key, seen.join(", "), p.wanted())
    };
    CheckOutcome {
        check: id,
        summary,
        findings,
    }
}
