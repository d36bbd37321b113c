//! Numeric settings the new firmware bounds: ranges (disk fill-up prevention
//! 50–98 %) and minimums (LDAP response timeout ≥ 120 s).

use super::params::{Params, as_number, fmt_num};
use super::{RuleError, RuleInput, product_at, product_value};
use crate::check::finding::{CheckOutcome, Finding};

const RULE_RANGE: &str = "numeric-range";
const RULE_MIN: &str = "minimum";

pub(crate) fn range(input: &RuleInput, p: Params) -> Result<CheckOutcome, RuleError> {
    p.allow(&["key", "min", "max", "required"])?;
    let key = p.str_req("key")?;
    let (min, max) = (p.num_req("min")?, p.num_req("max")?);
    if min > max {
        return Err(p.error(format!("min {min} is above max {max}")));
    }
    let required = p.bool_or("required", false)?;
    let bounds = format!("{}–{}", fmt_num(min), fmt_num(max));
    let findings = check(
        input,
        RULE_RANGE,
        key,
        Some(min),
        Some(max),
        required,
        &bounds,
    );
    Ok(outcome(
        RULE_RANGE,
        input,
        key,
        &format!("in {bounds}"),
        findings,
    ))
}

pub(crate) fn minimum(input: &RuleInput, p: Params) -> Result<CheckOutcome, RuleError> {
    p.allow(&["key", "min", "required"])?;
    let key = p.str_req("key")?;
    let min = p.num_req("min")?;
    let required = p.bool_or("required", false)?;
    let bounds = format!("at least {}", fmt_num(min));
    let findings = check(input, RULE_MIN, key, Some(min), None, required, &bounds);
    Ok(outcome(RULE_MIN, input, key, &bounds, findings))
}

fn outcome(
    check: &str,
    input: &RuleInput,
    key: &str,
    want: &str,
    findings: Vec<Finding>,
) -> CheckOutcome {
    let have = product_value(input.config, key)
        .map(|v| v.to_string())
        .unwrap_or_else(|| "not set".into());
    CheckOutcome {
        check: check.to_string(),
        summary: format!("product.{key} = {have}, must be {want}"),
        findings,
    }
}

fn check(
    input: &RuleInput,
    rule: &str,
    key: &str,
    min: Option<f64>,
    max: Option<f64>,
    required: bool,
    bounds: &str,
) -> Vec<Finding> {
    let target = input.manifest.firmware.version;
    let Some(v) = product_value(input.config, key) else {
        if required {
            return vec![
                Finding::blocker(
                    rule,
                    format!("product.{key} is not set; {target} needs it {bounds}"),
                )
                .value("not set")
                .at(product_at(key))
                .fix(format!("Set product.{key} to a value {bounds}.")),
            ];
        }
        return vec![];
    };
    let Some(n) = as_number(v) else {
        return vec![
            Finding::blocker(rule, format!("product.{key} is not a number"))
                .value(v)
                .at(product_at(key))
                .fix(format!("Set product.{key} to a number {bounds}.")),
        ];
    };
    let low = min.is_some_and(|m| n < m);
    let high = max.is_some_and(|m| n > m);
    if !(low || high) {
        return vec![];
    }
    let set_to = if low { min } else { max }.map(fmt_num).unwrap_or_default();
    vec![
        Finding::blocker(
            rule,
            format!(
                "{target} refuses product.{key} = {}: it must be {bounds}",
                fmt_num(n)
            ),
        )
        .value(fmt_num(n))
        .at(product_at(key))
        .fix(format!(
            "Set product.{key} to {set_to} (or any value {bounds}) before the upgrade."
        )),
    ]
}
