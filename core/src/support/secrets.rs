//! The secrets of an appliance and how they are kept out of what leaves the box:
//! values of secret keys in appliance.toml and the contents of secret files, replaced
//! by `<redacted>` in the bundle, in everything the boot log server sends and in the
//! console's own log.
//!
//! Which keys are secret is declared, not guessed: the fixed part of the configuration
//! lists its secret fields (`config::SECRET_VALUES`, `config::SECRET_FILES`), and an
//! operator or a firmware names more in `[appliance] secrets` / `secret_files` (dotted
//! key paths). Free-form `[product]` keys that the declarations miss are caught by a
//! name backstop ([`is_secret_key`]).
//!
//! A value can reach text in several spellings, so each is looked for: as written, as
//! JSON and TOML escape it, and line by line when it spans lines. Short values (under
//! four bytes, or all digits under six) are only removed where they stand as the value
//! of their key (`pin = "8"`, `"pin": 8`), so an "8" in a hash or a size survives.

use crate::appliance::config::{SECRET_FILES, SECRET_VALUES};
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
    #[error(
        "cannot read the secret file \"{path}\" named by {key}: {source}; fix its permissions (the console must read it to keep it out of logs and bundles)"
    )]
    SecretFile {
        path: String,
        key: String,
        source: std::io::Error,
    },
}

/// Words that make a key name a secret wherever they stand in it.
const SECRET_WORDS: &[&str] = &[
    "password",
    "passwd",
    "passphrase",
    "secret",
    "token",
    "credential",
    "community",
    "private",
    "apikey",
];
/// Words that do only as a whole part of the name (`api_key`, `bind_pw`, `wifi_psk`),
/// so `ssh_keys` (a list of public key files) or `keyboard` are not secrets.
const SECRET_PARTS: &[&str] = &["pw", "pass", "key", "psk", "pin", "creds"];

/// The name backstop: whether a key's name says its value is secret.
pub fn is_secret_key(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    SECRET_WORDS.iter().any(|w| n.contains(w))
        || n.split(|c: char| !c.is_ascii_alphanumeric())
            .any(|part| SECRET_PARTS.contains(&part))
}

/// A key names a file whose content is the secret (`password_file`, `psk_file`).
fn names_a_file(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    k.ends_with("_file") || k.ends_with("file") || k.ends_with("_path")
}

/// The keys declared secret: the fixed part's and the operator's, as dotted paths.
#[derive(Debug, Default, Clone)]
struct Declared {
    values: Vec<String>,
    files: Vec<String>,
}

impl Declared {
    fn from_doc(doc: &toml_edit::DocumentMut) -> Declared {
        let list = |name: &str| -> Vec<String> {
            doc.get("appliance")
                .and_then(|a| a.get(name))
                .and_then(|v| v.as_array())
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default()
        };
        let mut d = Declared::default();
        d.values.extend(SECRET_VALUES.iter().map(|s| s.to_string()));
        d.values.extend(list("secrets"));
        d.files.extend(SECRET_FILES.iter().map(|s| s.to_string()));
        d.files.extend(list("secret_files"));
        d
    }

    fn is_file(&self, path: &str, key: &str) -> bool {
        self.files.iter().any(|f| f == path)
            || (names_a_file(key) && (is_secret_key(key) || self.values.iter().any(|v| v == path)))
    }

    fn is_secret(&self, path: &str, key: &str) -> bool {
        self.values.iter().any(|v| v == path)
            || self.files.iter().any(|f| f == path)
            || is_secret_key(key)
    }
}

/// What redaction found in a configuration.
#[derive(Debug, Default)]
pub struct FoundSecrets {
    /// (key name, secret value): strings, and numbers written as text.
    pub values: Vec<(String, String)>,
    /// (key name, path) of keys naming a file whose content is secret.
    pub files: Vec<(String, String)>,
}

/// appliance.toml with the value of every secret key replaced by `<redacted>`
/// (comments and layout kept), and the secrets it held. A file that does not parse
/// is not shown at all (a note says why), but its secrets are still collected line by
/// line, multi-line strings included.
pub fn redact_config(text: &str) -> (String, FoundSecrets) {
    let mut found = FoundSecrets::default();
    match text.parse::<toml_edit::DocumentMut>() {
        Ok(mut doc) => {
            let declared = Declared::from_doc(&doc);
            let mut path = Vec::new();
            redact_table(doc.as_table_mut(), &mut path, &declared, &mut found);
            (doc.to_string(), found)
        }
        Err(e) => {
            collect_from_lines(text, &mut found);
            let note = format!(
                "# appliance.toml did not parse, so it is left out of the bundle \
                 (it may hold secrets): {}\n",
                e.message().replace('\n', " ")
            );
            (note, found)
        }
    }
}

/// Best effort on a file that does not parse: `key = value` lines whose key is
/// declared or looks secret, a multi-line string to its closing quotes.
fn collect_from_lines(text: &str, found: &mut FoundSecrets) {
    let declared: Vec<String> = SECRET_VALUES
        .iter()
        .chain(SECRET_FILES)
        .filter_map(|p| p.rsplit('.').next().map(String::from))
        .collect();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let key = k
            .trim()
            .rsplit('.')
            .next()
            .unwrap_or("")
            .trim_matches(['"', '\'']);
        if !(is_secret_key(key) || declared.iter().any(|d| d == key)) {
            continue;
        }
        let v = v.trim();
        let value = if let Some(delim) = ["\"\"\"", "'''"].into_iter().find(|d| v.starts_with(d)) {
            let mut all = v[3..].to_string();
            if let Some(end) = all.find(delim) {
                all.truncate(end);
            } else {
                for more in lines.by_ref() {
                    all.push('\n');
                    match more.find(delim) {
                        Some(end) => {
                            all.push_str(&more[..end]);
                            break;
                        }
                        None => all.push_str(more),
                    }
                }
            }
            all
        } else {
            v.split('#')
                .next()
                .unwrap_or("")
                .trim()
                .trim_matches(['"', '\''])
                .to_string()
        };
        if value.trim().is_empty() {
            continue;
        }
        if names_a_file(key) {
            found.files.push((key.to_string(), value.clone()));
        }
        found.values.push((key.to_string(), value));
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

fn note_secret(key: &str, file: bool, item: &toml_edit::Item, found: &mut FoundSecrets) {
    let mut vals = Vec::new();
    collect_item(item, &mut vals);
    for v in vals {
        if file {
            found.files.push((key.to_string(), v.clone()));
        }
        found.values.push((key.to_string(), v));
    }
}

fn dotted(path: &[String], key: &str) -> String {
    let mut p = path.join(".");
    if !p.is_empty() {
        p.push('.');
    }
    p.push_str(key);
    p
}

/// A fresh `<redacted>` value keeping the old value's comments and spacing. Never a
/// table: replacing a table by a value is what broke toml_edit's layout before.
fn redacted_like(old: Option<&toml_edit::Value>) -> toml_edit::Value {
    let mut v = toml_edit::Value::from(REDACTED);
    if let Some(d) = old.map(|o| o.decor().clone()) {
        *v.decor_mut() = d;
    }
    v
}

fn redact_table(
    t: &mut toml_edit::Table,
    path: &mut Vec<String>,
    declared: &Declared,
    found: &mut FoundSecrets,
) {
    for (key, item) in t.iter_mut() {
        let name = key.get().to_string();
        let full = dotted(path, &name);
        if declared.is_secret(&full, &name) {
            note_secret(&name, declared.is_file(&full, &name), item, found);
            match item {
                toml_edit::Item::Value(v) => *v = redacted_like(Some(v)),
                // A secret table: every value in it goes, the table's shape stays.
                toml_edit::Item::Table(sub) => redact_all(sub),
                toml_edit::Item::ArrayOfTables(a) => a.iter_mut().for_each(redact_all),
                toml_edit::Item::None => {}
            }
            continue;
        }
        path.push(name);
        match item {
            toml_edit::Item::Table(sub) => redact_table(sub, path, declared, found),
            toml_edit::Item::ArrayOfTables(a) => a
                .iter_mut()
                .for_each(|sub| redact_table(sub, path, declared, found)),
            toml_edit::Item::Value(v) => redact_value(v, path, declared, found),
            toml_edit::Item::None => {}
        }
        path.pop();
    }
}

fn redact_all(t: &mut toml_edit::Table) {
    for (_, item) in t.iter_mut() {
        match item {
            toml_edit::Item::Value(v) => *v = redacted_like(Some(v)),
            toml_edit::Item::Table(sub) => redact_all(sub),
            toml_edit::Item::ArrayOfTables(a) => a.iter_mut().for_each(redact_all),
            toml_edit::Item::None => {}
        }
    }
}

fn redact_value(
    v: &mut toml_edit::Value,
    path: &mut Vec<String>,
    declared: &Declared,
    found: &mut FoundSecrets,
) {
    match v {
        toml_edit::Value::InlineTable(t) => {
            for (key, val) in t.iter_mut() {
                let name = key.get().to_string();
                let full = dotted(path, &name);
                if declared.is_secret(&full, &name) {
                    let item = toml_edit::Item::Value(val.clone());
                    note_secret(&name, declared.is_file(&full, &name), &item, found);
                    *val = redacted_like(Some(val));
                } else {
                    path.push(name);
                    redact_value(val, path, declared, found);
                    path.pop();
                }
            }
        }
        toml_edit::Value::Array(a) => a
            .iter_mut()
            .for_each(|x| redact_value(x, path, declared, found)),
        _ => {}
    }
}

/// One spelling of a secret to look for.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Needle {
    bytes: Vec<u8>,
    /// Short values: removed only where they follow this key name.
    key: Option<Vec<u8>>,
}

/// The secret values of an appliance, each in every spelling it can take, and the
/// files whose whole content is secret.
#[derive(Debug, Clone, Default)]
pub struct Secrets {
    needles: Vec<Needle>,
    /// Files whose whole content is secret (never copied into a bundle).
    files: Vec<PathBuf>,
}

/// JSON's spelling of a string's content (what serde_json writes between the quotes).
fn json_escaped(s: &str) -> String {
    let q = serde_json::to_string(s).unwrap_or_default();
    q.get(1..q.len().saturating_sub(1))
        .unwrap_or("")
        .to_string()
}

/// TOML's basic-string spelling: JSON's, but TOML writes control characters as
/// upper-case `\uXXXX` and never escapes `/`.
fn toml_escaped(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

fn is_short(v: &[u8]) -> bool {
    v.len() < 4 || (v.len() < 6 && v.iter().all(u8::is_ascii_digit))
}

impl Secrets {
    /// Collects the secrets of the appliance under `root`. A missing configuration
    /// has none; one that cannot be read, or a secret file that exists but cannot be
    /// read, is an error: then nothing that could hold a secret may be shown.
    pub fn load(root: &ApplianceRoot) -> Result<Secrets, SecretsError> {
        Self::load_with(root, true)
    }

    /// What can be known of the secrets, skipping what cannot be read: for the
    /// console's own log, which must keep writing (what could not be read here cannot
    /// have reached a log line through us either).
    pub fn load_best_effort(root: &ApplianceRoot) -> Secrets {
        Self::load_with(root, false).unwrap_or_default()
    }

    fn load_with(root: &ApplianceRoot, strict: bool) -> Result<Secrets, SecretsError> {
        let text = match std::fs::read_to_string(root.config_file()) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound || !strict => String::new(),
            Err(source) => {
                return Err(SecretsError::Config {
                    path: root.config_file().display().to_string(),
                    source,
                });
            }
        };
        let (_, found) = redact_config(&text);
        let mut s = Secrets::default();
        for (key, f) in &found.files {
            let path = root.resolve(f);
            match std::fs::read(&path) {
                Ok(bytes) => s.add(key, &String::from_utf8_lossy(&bytes)),
                // Nothing there, nothing to leak.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound || !strict => {}
                Err(source) => {
                    return Err(SecretsError::SecretFile {
                        path: path.display().to_string(),
                        key: key.clone(),
                        source,
                    });
                }
            }
            s.files.push(path);
        }
        for (key, v) in &found.values {
            s.add(key, v);
        }
        s.needles.sort_by(|a, b| {
            b.bytes
                .len()
                .cmp(&a.bytes.len())
                .then(a.bytes.cmp(&b.bytes))
        });
        s.needles.dedup();
        Ok(s)
    }

    /// Secrets made of (key, value) pairs, as `load` makes them from a configuration.
    pub fn from_values<'a>(values: impl IntoIterator<Item = (&'a str, &'a str)>) -> Secrets {
        let mut s = Secrets::default();
        for (k, v) in values {
            s.add(k, v);
        }
        s.needles.sort_by(|a, b| {
            b.bytes
                .len()
                .cmp(&a.bytes.len())
                .then(a.bytes.cmp(&b.bytes))
        });
        s.needles.dedup();
        s
    }

    /// Every spelling of `value` (the value of `key`).
    fn add(&mut self, key: &str, value: &str) {
        let mut spellings = Vec::new();
        let whole = value.trim();
        for v in [value, whole] {
            spellings.push(v.to_string());
            spellings.push(json_escaped(v));
            spellings.push(toml_escaped(v));
        }
        if whole.contains('\n') {
            for line in whole.lines() {
                let line = line.trim();
                spellings.push(line.to_string());
                spellings.push(json_escaped(line));
            }
        }
        for sp in spellings {
            if sp.trim().is_empty() {
                continue;
            }
            let bytes = sp.into_bytes();
            let key = is_short(&bytes).then(|| key.as_bytes().to_ascii_lowercase());
            self.needles.push(Needle { bytes, key });
        }
    }

    /// The number of distinct spellings looked for.
    pub fn len(&self) -> usize {
        self.needles.len()
    }

    pub fn is_empty(&self) -> bool {
        self.needles.is_empty()
    }

    /// Whether `path` is a file whose content is secret.
    pub fn is_secret_file(&self, path: &Path) -> bool {
        let canon = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
        let c = canon(path);
        self.files.iter().any(|f| canon(f) == c)
    }

    /// `bytes` with every secret value replaced by `<redacted>`, longest first so a
    /// secret containing another is removed whole.
    pub fn scrub(&self, bytes: &[u8]) -> Vec<u8> {
        let mut cur = bytes.to_vec();
        for n in &self.needles {
            cur = replace_all(&cur, n);
        }
        cur
    }

    /// Text form of [`Secrets::scrub`].
    pub fn scrub_str(&self, s: &str) -> String {
        String::from_utf8_lossy(&self.scrub(s.as_bytes())).into_owned()
    }
}

fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Whether `hay[..at]` ends with `key` and the separators of an assignment
/// (`key = "`, `"key": `, `key=`), with no word character before the key.
fn follows_key(hay: &[u8], at: usize, key: &[u8]) -> bool {
    let mut j = at;
    let mut skipped = 0;
    while j > 0 && skipped < 8 && b" \t\"':=".contains(&hay[j - 1]) {
        j -= 1;
        skipped += 1;
    }
    if skipped == 0 || j < key.len() {
        return false;
    }
    let start = j - key.len();
    hay[start..j].eq_ignore_ascii_case(key) && (start == 0 || !is_word(hay[start - 1]))
}

fn replace_all(hay: &[u8], n: &Needle) -> Vec<u8> {
    let needle = &n.bytes;
    if needle.is_empty() || hay.len() < needle.len() {
        return hay.to_vec();
    }
    let mut out = Vec::with_capacity(hay.len());
    let mut i = 0;
    while i < hay.len() {
        if hay[i] == needle[0] && hay[i..].starts_with(needle) {
            let end = i + needle.len();
            let ok = match &n.key {
                None => true,
                Some(key) => (end == hay.len() || !is_word(hay[end])) && follows_key(hay, i, key),
            };
            if ok {
                out.extend_from_slice(REDACTED.as_bytes());
                i = end;
                continue;
            }
        }
        out.push(hay[i]);
        i += 1;
    }
    out
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
        assert!(found.values.iter().any(|(_, v)| v == "hunter22"));
        assert_eq!(
            found.files,
            vec![("password_file".to_string(), "etc/bmc.pass".to_string())]
        );
    }

    #[test]
    fn the_name_backstop_catches_what_the_guides_configs_call_secrets() {
        for k in [
            "api_key",
            "ldap_bind_pw",
            "smtp_passwd",
            "snmp_community",
            "wifi_psk",
            "db_credentials",
            "radius_shared_key",
            "ldap_bind_password",
            "token",
        ] {
            assert!(is_secret_key(k), "{k}");
        }
        for k in [
            "ssh_keys",
            "keyboard",
            "hostname",
            "plugins",
            "external_indexers",
            "disk_fillup_prevention_percent",
            "rdp_settings",
            "certificates",
        ] {
            assert!(!is_secret_key(k), "{k}");
        }
    }

    #[test]
    fn declared_keys_are_secret_whatever_their_name() {
        let text = "[appliance]\nsecrets = [\"product.radius.shared\"]\n\
                    secret_files = [\"product.vault\"]\n\
                    [product]\nradius = { shared = \"s3cr3t-value\", host = \"r\" }\n\
                    vault = \"etc/appliance/vault.bin\"\n";
        let (red, found) = redact_config(text);
        assert!(!red.contains("s3cr3t-value"), "{red}");
        assert!(red.contains("host = \"r\""), "{red}");
        assert!(
            found
                .files
                .iter()
                .any(|(_, p)| p == "etc/appliance/vault.bin")
        );
    }

    #[test]
    fn every_spelling_of_a_value_is_scrubbed() {
        let s = Secrets::from_values([
            ("api_key", "ab\"cd\\ef"),
            ("cert_pass", "line-one-x\nline-two-y"),
        ]);
        for text in [
            "raw ab\"cd\\ef end",
            "json {\"api_key\":\"ab\\\"cd\\\\ef\"}",
            "toml api_key = \"ab\\\"cd\\\\ef\"",
            "multi line-one-x then line-two-y",
            "escaped \"line-one-x\\nline-two-y\"",
        ] {
            let out = s.scrub_str(text);
            for leak in ["ab\"cd", "cd\\ef", "cd\\\\ef", "line-one-x", "line-two-y"] {
                assert!(
                    !out.contains(leak),
                    "{text:?} -> {out:?} still has {leak:?}"
                );
            }
        }
    }

    #[test]
    fn a_short_value_goes_only_where_it_is_the_value_of_its_key() {
        let s = Secrets::from_values([("pin", "8")]);
        let hash = "sha256 8f8e88a8 size 8 MiB";
        assert_eq!(s.scrub_str(hash), hash);
        assert_eq!(s.scrub_str("pin = \"8\""), "pin = \"<redacted>\"");
        assert_eq!(s.scrub_str("{\"pin\": 8}"), "{\"pin\": <redacted>}");
        assert_eq!(s.scrub_str("spin = 8"), "spin = 8");
    }

    #[test]
    fn scrub_replaces_longest_first() {
        let s = Secrets::from_values([("a_token", "abcdef"), ("b_token", "abcd")]);
        assert_eq!(s.scrub_str("x abcdef abcd y"), "x <redacted> <redacted> y");
    }

    /// Issue 10, item 1: this appended text once panicked inside toml_edit.
    #[test]
    fn a_broken_configuration_never_panics_and_keeps_its_secrets() {
        let text = "[product]\nsmtp_passwd = \"\"\"multi\nline-secret-2\"\"\"\nbmc={=p[]\nbmc.\n";
        let (red, found) = redact_config(text);
        assert!(red.starts_with("# appliance.toml did not parse"), "{red}");
        assert!(!red.contains("line-secret"), "{red}");
        assert!(
            found
                .values
                .iter()
                .any(|(_, v)| v.contains("line-secret-2")),
            "{found:?}"
        );
    }
}
