//! Expected hashes as operators paste them: bare hex (any case), `sha256: HEX` from a
//! downloads page, a `sha256sum` line, BSD `SHA256 (NAME) = HEX`, and Windows
//! `certutil -hashfile` output (the hash alone on a line, maybe with spaces between
//! bytes), with LF or CRLF line ends.

use std::path::{Path, PathBuf};

pub type Sha256 = [u8; 32];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HashFormError {
    #[error(
        "no SHA-256 found in \"{0}\"; paste the 64-digit hash from the downloads page (bare, \"sha256: HEX\", sha256sum, BSD or certutil form)"
    )]
    NotFound(String),
    #[error("\"{text}\" has {digits} hexadecimal digits, a SHA-256 has 64; copy the whole hash")]
    WrongLength { text: String, digits: usize },
    #[error(
        "\"{0}\" lists several hashes and none names this image; pass the right line with --sha256"
    )]
    Ambiguous(String),
    #[error("cannot read hash file \"{path}\": {error}")]
    Read { path: PathBuf, error: String },
}

/// One hash found in text, with the file name it was given for (if any).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Found {
    hash: Sha256,
    name: Option<String>,
}

fn short(text: &str) -> String {
    let t = text.trim();
    let line: String = t.chars().take(90).collect();
    let line = line.replace(['\r', '\n'], " ");
    if t.chars().count() > 90 {
        format!("{line}...")
    } else {
        line
    }
}

fn decode(hex_text: &str) -> Result<Sha256, usize> {
    let digits: String = hex_text.chars().filter(|c| !c.is_whitespace()).collect();
    if !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(0);
    }
    if digits.len() != 64 {
        return Err(digits.len());
    }
    let mut out = [0u8; 32];
    hex::decode_to_slice(&digits, &mut out).map_err(|_| 0usize)?;
    Ok(out)
}

fn strip_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    (s.len() >= prefix.len()
        && s.is_char_boundary(prefix.len())
        && s[..prefix.len()].eq_ignore_ascii_case(prefix))
    .then(|| &s[prefix.len()..])
}

/// Looks at one line; `Err(n)` reports a hex run of the wrong length `n`.
fn parse_line(line: &str) -> Result<Option<Found>, usize> {
    let l = line.trim().trim_start_matches('\u{feff}');
    if l.is_empty() {
        return Ok(None);
    }
    // BSD: SHA256 (NAME) = HEX
    if let Some(rest) = strip_ci(l, "sha256 (").or_else(|| strip_ci(l, "sha256("))
        && let Some((name, hex_part)) = rest.rsplit_once(") =")
    {
        return decode(hex_part).map(|hash| {
            Some(Found {
                hash,
                name: Some(name.to_string()),
            })
        });
    }
    // Downloads page: "sha256: HEX" (also "SHA-256:", "sha256=").
    for p in ["sha256:", "sha-256:", "sha256=", "sha256 :"] {
        if let Some(rest) = strip_ci(l, p) {
            return decode(rest).map(|hash| Some(Found { hash, name: None }));
        }
    }
    // certutil: the hash alone, maybe with spaces between bytes; or bare hex.
    if l.bytes()
        .all(|b| b.is_ascii_hexdigit() || b == b' ' || b == b'\t')
    {
        return decode(l).map(|hash| Some(Found { hash, name: None }));
    }
    // sha256sum: "HEX  NAME" or "HEX *NAME".
    let mut parts = l.splitn(2, char::is_whitespace);
    let first = parts.next().unwrap_or("");
    if first.len() >= 32 && first.bytes().all(|b| b.is_ascii_hexdigit()) {
        let name = parts
            .next()
            .map(|n| n.trim_start().trim_start_matches('*').to_string());
        return decode(first).map(|hash| Some(Found { hash, name }));
    }
    // Anything else: a long hex word in a sentence ("SHA-256 checksum: HEX"), or a
    // digest of another kind whose length gives it away.
    for word in l.split(|c: char| c.is_whitespace() || matches!(c, ':' | '=' | ',' | ';')) {
        if word.len() >= 32 && word.bytes().all(|b| b.is_ascii_hexdigit()) {
            return decode(word).map(|hash| Some(Found { hash, name: None }));
        }
    }
    Ok(None)
}

/// Parses the expected hash out of pasted text or a hash file's contents. When the
/// text lists several hashes, the one whose file name matches `image_name` is taken.
pub fn parse_expected(text: &str, image_name: Option<&str>) -> Result<Sha256, HashFormError> {
    let mut found = Vec::new();
    let mut wrong_len = None;
    for line in text.lines() {
        match parse_line(line) {
            Ok(Some(f)) => found.push(f),
            Ok(None) => {}
            Err(n) if n > 0 => wrong_len = wrong_len.or(Some((line.trim().to_string(), n))),
            Err(_) => {}
        }
    }
    match found.len() {
        0 => Err(match wrong_len {
            Some((text, digits)) => HashFormError::WrongLength {
                text: short(&text),
                digits,
            },
            None => HashFormError::NotFound(short(text)),
        }),
        1 => Ok(found[0].hash),
        _ => {
            let want = image_name.unwrap_or("");
            let base = |n: &str| n.rsplit(['/', '\\']).next().unwrap_or(n).to_string();
            let matching: Vec<&Found> = found
                .iter()
                .filter(|f| f.name.as_deref().map(base).as_deref() == Some(want))
                .collect();
            match matching.as_slice() {
                [one] => Ok(one.hash),
                _ if found.iter().all(|f| f.hash == found[0].hash) => Ok(found[0].hash),
                _ => Err(HashFormError::Ambiguous(short(text))),
            }
        }
    }
}

/// Reads the expected hash from a file (bounded: hash files are small).
pub fn read_hash_file(path: &Path, image_name: Option<&str>) -> Result<Sha256, HashFormError> {
    let read_err = |e: String| HashFormError::Read {
        path: path.to_path_buf(),
        error: e,
    };
    let meta = std::fs::metadata(path).map_err(|e| read_err(e.to_string()))?;
    if meta.len() > 1 << 20 {
        return Err(read_err(format!(
            "{} bytes is too large for a hash file",
            meta.len()
        )));
    }
    let bytes = std::fs::read(path).map_err(|e| read_err(e.to_string()))?;
    // certutil output saved by PowerShell may be UTF-16LE.
    let text = if bytes.starts_with(&[0xff, 0xfe]) {
        let units: Vec<u16> = bytes[2..]
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        String::from_utf16_lossy(&units)
    } else {
        String::from_utf8_lossy(&bytes).into_owned()
    };
    parse_expected(&text, image_name)
}

/// The `.sha256` file beside an image: `fw.iso.sha256`, else `fw.sha256`.
pub fn sidecar_path(image: &Path) -> Option<PathBuf> {
    let mut with_ext = image.as_os_str().to_owned();
    with_ext.push(".sha256");
    let candidates = [PathBuf::from(with_ext), image.with_extension("sha256")];
    candidates.into_iter().find(|p| p.is_file())
}

/// Compares two hashes in constant time.
pub fn hashes_equal(a: &Sha256, b: &Sha256) -> bool {
    use subtle::ConstantTimeEq;
    a.ct_eq(b).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: &str = "57df2b88e910e6ab098801ab74c929238b97c629af26815dfc6295786a4f62ef";

    fn h() -> Sha256 {
        decode(H).unwrap()
    }

    #[test]
    fn every_form_operators_paste() {
        let spaced: String = H
            .as_bytes()
            .chunks(2)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect::<Vec<_>>()
            .join(" ");
        let forms = [
            H.to_string(),
            H.to_uppercase(),
            format!("  {H}\n"),
            format!("sha256: {H}"),
            format!("SHA256: {}", H.to_uppercase()),
            format!("{H}  fw-7.3.1.iso\n"),
            format!("{H} *fw-7.3.1.iso\n"),
            format!("SHA256 (fw-7.3.1.iso) = {H}\n"),
            format!(
                "SHA256 hash of C:\\SPS\\fw-7.3.1.iso:\r\n{H}\r\nCertUtil: -hashfile command completed successfully.\r\n"
            ),
            format!(
                "SHA256 hash of fw.iso:\r\n{spaced}\r\nCertUtil: -hashfile command completed successfully.\r\n"
            ),
        ];
        for f in &forms {
            assert_eq!(parse_expected(f, Some("fw-7.3.1.iso")), Ok(h()), "{f:?}");
        }
    }

    #[test]
    fn several_lines_pick_the_image() {
        let other = "0".repeat(64);
        let text = format!("{other}  other.iso\n{H}  fw-7.3.1.iso\n");
        assert_eq!(parse_expected(&text, Some("fw-7.3.1.iso")), Ok(h()));
        assert!(matches!(
            parse_expected(&text, Some("x.iso")),
            Err(HashFormError::Ambiguous(_))
        ));
    }

    #[test]
    fn wrong_inputs_say_why() {
        assert!(matches!(
            parse_expected(&H[..63], None),
            Err(HashFormError::WrongLength { digits: 63, .. })
        ));
        assert!(matches!(
            parse_expected(&format!("sha256: {H}00"), None),
            Err(HashFormError::WrongLength { digits: 66, .. })
        ));
        assert!(matches!(
            parse_expected("hello", None),
            Err(HashFormError::NotFound(_))
        ));
        assert!(matches!(
            parse_expected("", None),
            Err(HashFormError::NotFound(_))
        ));
        let zz = format!("zz{}", &H[2..]);
        assert!(parse_expected(&zz, None).is_err());
    }

    #[test]
    fn constant_time_compare() {
        let mut other = h();
        assert!(hashes_equal(&h(), &other));
        other[31] ^= 1;
        assert!(!hashes_equal(&h(), &other));
    }
}
