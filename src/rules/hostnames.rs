//! The `idna-hostnames` rule: host names used for in-band destination selection must
//! comply with IDNA (RFC 5890/5891): in ASCII only letters, digits and hyphens, no
//! hyphen at a label's ends, labels of at most 63 and names of at most 253 octets,
//! valid A-labels. The new firmware rejects connections to names that do not.

use super::{product_location, quote_safe, values_at};
use crate::finding::{CheckOutcome, Finding};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostnameParams {
    pub keys: Vec<String>,
    #[serde(default = "yes")]
    pub allow_wildcard: bool,
    #[serde(default)]
    pub id: Option<String>,
}

fn yes() -> bool {
    true
}

pub const DEFAULT_ID: &str = "idna-hostnames";

/// Why `host` is not an IDNA-compliant host name, or None when it is (or is an IP
/// address or CIDR range, which are not names).
pub fn problem(host: &str, allow_wildcard: bool) -> Option<String> {
    let h = host.trim();
    if h.is_empty() {
        return Some("it is empty".into());
    }
    let bare = h.trim_start_matches('[').trim_end_matches(']');
    if bare.parse::<std::net::IpAddr>().is_ok() || bare.parse::<crate::config::Cidr>().is_ok() {
        return None;
    }
    let name = match h.strip_prefix("*.") {
        Some(rest) if allow_wildcard => rest,
        _ => h,
    };
    if let Some(c) = name
        .chars()
        .find(|c| c.is_ascii() && !(c.is_ascii_alphanumeric() || *c == '-' || *c == '.'))
    {
        return Some(format!(
            "it contains {c:?}: in ASCII only letters, digits and the hyphen are allowed"
        ));
    }
    for label in name.split('.') {
        if label.is_empty() {
            return Some("it has an empty label (two dots in a row, or a dot at an end)".into());
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Some(format!(
                "the label \"{label}\" starts or ends with a hyphen"
            ));
        }
    }
    match idna::domain_to_ascii_strict(name) {
        Ok(ascii) => {
            if let Some(l) = ascii.split('.').find(|l| l.len() > 63) {
                return Some(format!("the label \"{l}\" is longer than 63 octets"));
            }
            None
        }
        Err(_) => {
            let long = name.split('.').any(|l| l.len() > 63) || name.len() > 253;
            Some(if long {
                "a label is longer than 63 octets or the name longer than 253".into()
            } else {
                "it is not a valid internationalised domain name (IDNA 2008 / UTS 46: a disallowed character, a bad xn-- label, or hyphens in the 3rd and 4th position)".into()
            })
        }
    }
}

/// Runs the rule over the configured keys.
pub fn check(product: &toml::Table, p: &HostnameParams) -> CheckOutcome {
    let id = p.id.clone().unwrap_or_else(|| DEFAULT_ID.into());
    let mut findings = Vec::new();
    let mut count = 0usize;
    for key in &p.keys {
        let mut hosts: Vec<(String, &toml::Value)> = Vec::new();
        for (k, v) in values_at(product, key) {
            match v {
                toml::Value::Array(a) => {
                    hosts.extend(a.iter().enumerate().map(|(i, e)| (format!("{k}[{i}]"), e)))
                }
                other => hosts.push((k, other)),
            }
        }
        for (k, v) in hosts {
            count += 1;
            let Some(h) = v.as_str() else {
                findings.push(
                    Finding::blocker(&id, format!("product.{k} is not a host name"))
                        .value(super::show_value(v))
                        .at(product_location(&k))
                        .fix("Write the host name as a string, then run the test again."),
                );
                continue;
            };
            if let Some(why) = problem(h, p.allow_wildcard) {
                findings.push(
                    Finding::blocker(
                        &id,
                        format!(
                            "the host name \"{}\" does not comply with IDNA (RFC 5890): {why}",
                            quote_safe(h)
                        ),
                    )
                    .value(quote_safe(h))
                    .at(product_location(&k))
                    .fix("Change it to a compliant name (letters, digits, hyphens; e.g. replace '_' with '-'), also in DNS if needed, then run the test again."),
                );
            }
        }
    }
    CheckOutcome {
        check: id,
        summary: format!("{count} host name(s) checked against IDNA (RFC 5890)"),
        findings,
    }
}

#[cfg(test)]
mod tests {
    use super::problem;

    #[test]
    fn hostnames() {
        for ok in [
            "files.example.com",
            "bücher.example",
            "xn--bcher-kva.example",
            "*.example.com",
            "10.0.0.1",
            "2001:db8::1",
            "10.0.0.0/8",
            "a-b.example",
        ] {
            assert_eq!(problem(ok, true), None, "{ok}");
        }
        for bad in [
            "bad_host.example",
            "-lead.example",
            "trail-.example",
            "a..b",
            "ab--cd.example",
            "xn--zz.example",
            "*.example.com",
            "sp ace.example",
        ] {
            let wildcard = bad != "*.example.com";
            assert!(problem(bad, wildcard).is_some(), "{bad} accepted");
        }
        let long = format!("{}.example", "a".repeat(64));
        assert!(problem(&long, true).is_some());
    }
}
