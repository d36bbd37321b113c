//! The secrets of an appliance and how they are kept out of what leaves the box:
//! values of secret keys in appliance.toml and the contents of secret files, replaced
//! by `<redacted>` in the bundle and in everything the boot log server sends.

use crate::appliance::root::ApplianceRoot;
use std::path::{Path, PathBuf};

/// What replaces a secret.
pub const REDACTED: &str = "<redacted>";

/// The secrets could not be loaded, so nothing that could hold one may be shown.
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error(
        "cannot read the configuration \"{path}\": {source}; fix its permissions or restore it"
    )]
    Config {
        path: String,
        source: std::io::Error,
    },
}

/// Whether a configuration key names a secret (its value is never shown).
pub fn is_secret_key(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    ["password", "secret", "token", "passphrase", "private"]
        .iter()
        .any(|w| n.contains(w))
}

/// The secret values of an appliance: every value of a secret key in appliance.toml
/// and the contents of the files such keys name. Scrubbing replaces each with
/// `<redacted>`, longest first so a secret containing another is removed whole.
#[derive(Debug, Clone, Default)]
pub struct Secrets {
    values: Vec<Vec<u8>>,
    /// Files whose whole content is secret (never copied into a bundle).
    files: Vec<PathBuf>,
}

impl Secrets {
    /// Collects the secrets of the appliance under `root`. An unreadable configuration
    /// yields none from it; a configuration that does not parse is still scanned line
    /// by line so its secrets are scrubbed.
    pub fn load(root: &ApplianceRoot) -> Result<Secrets, SecretsError> {
        let text = match std::fs::read_to_string(root.config_file()) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(source) => {
                return Err(SecretsError::Config {
                    path: root.config_file().display().to_string(),
                    source,
                });
            }
        };
        let (_, mut found) = redact_config(&text);
        let mut s = Secrets::default();
        for f in std::mem::take(&mut found.files) {
            let path = root.resolve(&f);
            if let Ok(bytes) = std::fs::read(&path) {
                s.add(&bytes);
                // Each line of a multi-line secret file on its own too.
                for line in bytes.split(|b| *b == b'\n') {
                    s.add(line);
                }
            }
            s.files.push(path);
        }
        for v in found.values {
            s.add(v.as_bytes());
        }
        s.values.sort_by_key(|v| std::cmp::Reverse(v.len()));
        s.values.dedup();
        Ok(s)
    }

    fn add(&mut self, v: &[u8]) {
        let t = v.trim_ascii();
        if !t.is_empty() {
            self.values.push(t.to_vec());
        }
        if v != t && !v.is_empty() && !v.trim_ascii_start().is_empty() {
            self.values.push(v.to_vec());
        }
    }

    /// The number of distinct secret values.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Whether `path` is a file whose content is secret.
    pub fn is_secret_file(&self, path: &Path) -> bool {
        let canon = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
        let c = canon(path);
        self.files.iter().any(|f| canon(f) == c)
    }

    /// `bytes` with every secret value replaced by `<redacted>`.
    pub fn scrub(&self, bytes: &[u8]) -> Vec<u8> {
        let mut cur = bytes.to_vec();
        for v in &self.values {
            cur = replace_all(&cur, v, REDACTED.as_bytes());
        }
        cur
    }

    /// Text form of [`Secrets::scrub`].
    pub fn scrub_str(&self, s: &str) -> String {
        String::from_utf8_lossy(&self.scrub(s.as_bytes())).into_owned()
    }
}

fn replace_all(hay: &[u8], needle: &[u8], with: &[u8]) -> Vec<u8> {
    if needle.is_empty() || hay.len() < needle.len() {
        return hay.to_vec();
    }
    let mut out = Vec::with_capacity(hay.len());
    let mut i = 0;
    while i < hay.len() {
        if hay[i] == needle[0] && hay[i..].starts_with(needle) {
            out.extend_from_slice(with);
            i += needle.len();
        } else {
            out.push(hay[i]);
            i += 1;
        }
    }
    out
}

/// What redaction found in a configuration.
#[derive(Debug, Default)]
pub struct FoundSecrets {
    /// Secret values (strings, and numbers written as text).
    pub values: Vec<String>,
    /// Paths named by secret `*_file` keys.
    pub files: Vec<String>,
}

/// appliance.toml with the value of every secret key replaced by `<redacted>`
/// (comments and layout kept), and the secrets it held. A file that does not parse
/// is not shown at all (a note says why), but its secrets are still collected.
pub fn redact_config(text: &str) -> (String, FoundSecrets) {
    let mut found = FoundSecrets::default();
    match text.parse::<toml_edit::DocumentMut>() {
        Ok(mut doc) => {
            redact_table(doc.as_table_mut(), &mut found);
            (doc.to_string(), found)
        }
        Err(e) => {
            // Best effort on a broken file: `key = value` lines with a secret key.
            for line in text.lines() {
                if let Some((k, v)) = line.split_once('=')
                    && is_secret_key(k.trim())
                {
                    let v = v.trim().trim_matches(|c| c == '"' || c == '\'');
                    if !v.is_empty() {
                        found.values.push(v.to_string());
                        if k.trim().ends_with("file") {
                            found.files.push(v.to_string());
                        }
                    }
                }
            }
            let note = format!(
                "# appliance.toml did not parse, so it is left out of the bundle \
                 (it may hold secrets): {}\n",
                e.to_string().replace('\n', " ")
            );
            (note, found)
        }
    }
}

fn collect_strings(v: &toml_edit::Value, out: &mut Vec<String>) {
    use toml_edit::Value;
    match v {
        Value::String(s) => out.push(s.value().clone()),
        Value::Integer(i) => out.push(i.value().to_string()),
        Value::Float(f) => out.push(f.value().to_string()),
        Value::Array(a) => a.iter().for_each(|x| collect_strings(x, out)),
        Value::InlineTable(t) => t.iter().for_each(|(_, x)| collect_strings(x, out)),
        Value::Boolean(_) | Value::Datetime(_) => {}
    }
}

fn collect_item(item: &toml_edit::Item, out: &mut Vec<String>) {
    match item {
        toml_edit::Item::Value(v) => collect_strings(v, out),
        toml_edit::Item::Table(t) => t.iter().for_each(|(_, i)| collect_item(i, out)),
        toml_edit::Item::ArrayOfTables(a) => a
            .iter()
            .for_each(|t| t.iter().for_each(|(_, i)| collect_item(i, out))),
        toml_edit::Item::None => {}
    }
}

fn note_secret(key: &str, item: &toml_edit::Item, found: &mut FoundSecrets) {
    let mut vals = Vec::new();
    collect_item(item, &mut vals);
    if key.to_ascii_lowercase().ends_with("file") {
        found.files.extend(vals.iter().cloned());
    }
    found.values.extend(vals);
}

fn redact_table(t: &mut toml_edit::Table, found: &mut FoundSecrets) {
    for (key, item) in t.iter_mut() {
        if is_secret_key(key.get()) {
            note_secret(key.get(), item, found);
            let decor = item.as_value().map(|v| v.decor().clone());
            let mut v = toml_edit::Value::from(REDACTED);
            if let Some(d) = decor {
                *v.decor_mut() = d;
            }
            *item = toml_edit::Item::Value(v);
            continue;
        }
        match item {
            toml_edit::Item::Table(sub) => redact_table(sub, found),
            toml_edit::Item::ArrayOfTables(a) => {
                a.iter_mut().for_each(|sub| redact_table(sub, found))
            }
            toml_edit::Item::Value(v) => redact_value(v, found),
            toml_edit::Item::None => {}
        }
    }
}

fn redact_value(v: &mut toml_edit::Value, found: &mut FoundSecrets) {
    match v {
        toml_edit::Value::InlineTable(t) => {
            for (key, val) in t.iter_mut() {
                if is_secret_key(key.get()) {
                    let item = toml_edit::Item::Value(val.clone());
                    note_secret(key.get(), &item, found);
                    let d = val.decor().clone();
                    *val = toml_edit::Value::from(REDACTED);
                    *val.decor_mut() = d;
                } else {
                    redact_value(val, found);
                }
            }
        }
        toml_edit::Value::Array(a) => a.iter_mut().for_each(|x| redact_value(x, found)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_keys_are_redacted_and_collected() {
        let text = "[product]\nldap_bind_password = \"hunter22\" # keep\nname = \"x\"\n\
                    [ha]\nbmc = { host = \"h\", user = \"u\", password_file = \"etc/bmc.pass\" }\n";
        let (red, found) = redact_config(text);
        assert!(!red.contains("hunter22"), "{red}");
        assert!(red.contains("# keep"));
        assert!(red.contains("name = \"x\""));
        assert!(found.values.contains(&"hunter22".to_string()));
        assert_eq!(found.files, vec!["etc/bmc.pass".to_string()]);
    }

    #[test]
    fn scrub_replaces_longest_first() {
        let s = Secrets {
            values: vec![b"abcdef".to_vec(), b"abc".to_vec()],
            files: vec![],
        };
        assert_eq!(s.scrub_str("x abcdef abc y"), "x <redacted> <redacted> y");
    }
}
