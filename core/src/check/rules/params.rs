//! Typed access to a rule's parameters from the manifest, with errors that name the
//! rule and the parameter (the manifest is hostile input).

use super::RuleError;

pub(crate) struct Params<'a> {
    pub kind: &'a str,
    table: &'a toml::Table,
}

impl<'a> Params<'a> {
    pub fn new(kind: &'a str, table: &'a toml::Table) -> Self {
        Params { kind, table }
    }

    fn bad(&self, problem: String) -> RuleError {
        RuleError::BadParams {
            kind: self.kind.to_string(),
            problem,
        }
    }

    /// Refuses parameters this console does not know: a newer firmware means more
    /// than this console would check.
    pub fn allow(&self, known: &[&str]) -> Result<(), RuleError> {
        for k in self.table.keys() {
            if !known.contains(&k.as_str()) {
                return Err(self.bad(format!(
                    "unknown parameter \"{k}\" (known: {}); update upgrade-console first",
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                )));
            }
        }
        Ok(())
    }

    pub fn str_req(&self, key: &str) -> Result<&'a str, RuleError> {
        match self.table.get(key) {
            Some(toml::Value::String(s)) if !s.is_empty() => Ok(s),
            Some(v) => Err(self.bad(format!("parameter \"{key}\" must be a string, not {v}"))),
            None => Err(self.bad(format!("parameter \"{key}\" is missing"))),
        }
    }

    pub fn str_opt(&self, key: &str) -> Result<Option<&'a str>, RuleError> {
        match self.table.get(key) {
            None => Ok(None),
            Some(_) => self.str_req(key).map(Some),
        }
    }

    pub fn bool_or(&self, key: &str, default: bool) -> Result<bool, RuleError> {
        match self.table.get(key) {
            None => Ok(default),
            Some(toml::Value::Boolean(b)) => Ok(*b),
            Some(v) => Err(self.bad(format!(
                "parameter \"{key}\" must be true or false, not {v}"
            ))),
        }
    }

    pub fn u32_or(&self, key: &str, default: u32) -> Result<u32, RuleError> {
        match self.table.get(key) {
            None => Ok(default),
            Some(toml::Value::Integer(i)) => u32::try_from(*i)
                .map_err(|_| self.bad(format!("parameter \"{key}\" = {i} is out of range"))),
            Some(v) => Err(self.bad(format!("parameter \"{key}\" must be a number, not {v}"))),
        }
    }

    pub fn num_req(&self, key: &str) -> Result<f64, RuleError> {
        match self.table.get(key) {
            Some(v) => as_number(v)
                .ok_or_else(|| self.bad(format!("parameter \"{key}\" must be a number, not {v}"))),
            None => Err(self.bad(format!("parameter \"{key}\" is missing"))),
        }
    }

    /// A list of strings, lower-cased; `default` when absent.
    pub fn list_or(&self, key: &str, default: &[&str]) -> Result<Vec<String>, RuleError> {
        match self.table.get(key) {
            None => Ok(default.iter().map(|s| s.to_string()).collect()),
            Some(toml::Value::Array(a)) => a
                .iter()
                .map(|v| {
                    v.as_str().map(|s| s.to_ascii_lowercase()).ok_or_else(|| {
                        self.bad(format!("parameter \"{key}\" must list strings, not {v}"))
                    })
                })
                .collect(),
            Some(v) => Err(self.bad(format!("parameter \"{key}\" must be a list, not {v}"))),
        }
    }

    /// A list of strings as written; `None` when absent.
    pub fn list_opt(&self, key: &str) -> Result<Option<Vec<String>>, RuleError> {
        match self.table.get(key) {
            None => Ok(None),
            Some(_) => self.list_or(key, &[]).map(Some),
        }
    }

    pub fn table_opt(&self, key: &str) -> Result<Option<&'a toml::Table>, RuleError> {
        match self.table.get(key) {
            None => Ok(None),
            Some(toml::Value::Table(t)) => Ok(Some(t)),
            Some(v) => Err(self.bad(format!("parameter \"{key}\" must be a table, not {v}"))),
        }
    }

    pub fn version_opt(
        &self,
        key: &str,
    ) -> Result<Option<crate::image::version::Version>, RuleError> {
        match self.str_opt(key)? {
            None => Ok(None),
            Some(s) => s
                .parse()
                .map(Some)
                .map_err(|e| self.bad(format!("parameter \"{key}\": {e}"))),
        }
    }

    pub fn error(&self, problem: String) -> RuleError {
        self.bad(problem)
    }
}

/// An integer or float TOML value as f64.
pub(crate) fn as_number(v: &toml::Value) -> Option<f64> {
    match v {
        toml::Value::Integer(i) => Some(*i as f64),
        toml::Value::Float(f) if f.is_finite() => Some(*f),
        _ => None,
    }
}

/// Formats a number as written: 80, not 80.0.
pub(crate) fn fmt_num(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        format!("{n}")
    }
}
