//! Themes: TOML files in `themes/` embedded in the binary, naming meanings (text,
//! warning, danger...) rather than widgets. `--theme NAME|FILE` picks a built-in or a
//! user file; a user file overrides only what it sets, on top of the theme it
//! `extends` (the default theme unless it says otherwise). NO_COLOR strips colours.

use ratatui::style::{Color, Modifier, Style};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

/// The built-in themes, name and TOML text.
pub const BUILTIN: &[(&str, &str)] = &[
    ("default", include_str!("../../themes/default.toml")),
    ("mono", include_str!("../../themes/mono.toml")),
    (
        "high-contrast",
        include_str!("../../themes/high-contrast.toml"),
    ),
];

/// The meanings a theme styles; every built-in sets all of them.
pub const MEANINGS: &[&str] = &[
    "text",
    "muted",
    "title",
    "border",
    "key",
    "selected",
    "guidance",
    "ok",
    "warning",
    "error",
    "danger",
    "gauge",
    "status_bar",
];

#[derive(Debug, thiserror::Error)]
pub enum ThemeError {
    #[error(
        "theme \"{0}\" is neither a built-in theme (default, mono, high-contrast) nor a readable file"
    )]
    Unknown(String),
    #[error("theme file \"{path}\": {problem}; fix the file or pass --theme default")]
    Invalid { path: String, problem: String },
}

/// One style as written in a theme file; unset fields leave the base theme's value.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct StyleSpec {
    fg: Option<String>,
    bg: Option<String>,
    bold: Option<bool>,
    dim: Option<bool>,
    reversed: Option<bool>,
    underlined: Option<bool>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ThemeFile {
    #[serde(default)]
    name: Option<String>,
    /// The theme this one starts from (a built-in name); "default" if absent.
    #[serde(default)]
    extends: Option<String>,
    #[serde(default)]
    styles: BTreeMap<String, StyleSpec>,
}

/// A resolved theme: one ratatui style per meaning.
#[derive(Debug, Clone, PartialEq)]
pub struct Theme {
    pub name: String,
    pub text: Style,
    pub muted: Style,
    pub title: Style,
    pub border: Style,
    pub key: Style,
    pub selected: Style,
    pub guidance: Style,
    pub ok: Style,
    pub warning: Style,
    pub error: Style,
    pub danger: Style,
    pub gauge: Style,
    pub status_bar: Style,
}

fn parse_color(s: &str) -> Result<Color, String> {
    let lower = s.trim().to_ascii_lowercase();
    if let Ok(i) = lower.parse::<u8>() {
        return Ok(Color::Indexed(i));
    }
    // ratatui parses names ("lightred", "dark gray") and "#rrggbb".
    lower.parse::<Color>().map_err(|_| {
        format!("\"{s}\" is not a colour (use a name like \"cyan\", \"#rrggbb\" or 0-255)")
    })
}

impl StyleSpec {
    fn apply(&self, mut st: Style, key: &str) -> Result<Style, String> {
        let at = |e: String| format!("styles.{key}: {e}");
        if let Some(fg) = &self.fg {
            st.fg = Some(parse_color(fg).map_err(at)?);
        }
        if let Some(bg) = &self.bg {
            st.bg = Some(parse_color(bg).map_err(at)?);
        }
        for (flag, m) in [
            (self.bold, Modifier::BOLD),
            (self.dim, Modifier::DIM),
            (self.reversed, Modifier::REVERSED),
            (self.underlined, Modifier::UNDERLINED),
        ] {
            match flag {
                Some(true) => {
                    st.add_modifier.insert(m);
                    st.sub_modifier.remove(m);
                }
                Some(false) => st.add_modifier.remove(m),
                None => {}
            }
        }
        Ok(st)
    }
}

impl Theme {
    fn blank(name: &str) -> Theme {
        let s = Style::default();
        Theme {
            name: name.to_string(),
            text: s,
            muted: s,
            title: s,
            border: s,
            key: s,
            selected: s,
            guidance: s,
            ok: s,
            warning: s,
            error: s,
            danger: s,
            gauge: s,
            status_bar: s,
        }
    }

    fn slot(&mut self, key: &str) -> Option<&mut Style> {
        Some(match key {
            "text" => &mut self.text,
            "muted" => &mut self.muted,
            "title" => &mut self.title,
            "border" => &mut self.border,
            "key" => &mut self.key,
            "selected" => &mut self.selected,
            "guidance" => &mut self.guidance,
            "ok" => &mut self.ok,
            "warning" => &mut self.warning,
            "error" => &mut self.error,
            "danger" => &mut self.danger,
            "gauge" => &mut self.gauge,
            "status_bar" => &mut self.status_bar,
            _ => return None,
        })
    }

    /// Applies a theme file's text on top of `self`.
    fn overlay(mut self, text: &str) -> Result<Theme, String> {
        let file: ThemeFile = toml::from_str(text).map_err(|e| {
            e.to_string()
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect::<Vec<_>>()
                .join(" ")
        })?;
        if let Some(n) = file.name {
            self.name = n;
        }
        for (key, spec) in &file.styles {
            let current = *self.slot(key).ok_or_else(|| {
                format!(
                    "styles.{key}: \"{key}\" is not a meaning a theme sets (known: {})",
                    MEANINGS.join(", ")
                )
            })?;
            let new = spec.apply(current, key)?;
            if let Some(s) = self.slot(key) {
                *s = new;
            }
        }
        Ok(self)
    }

    /// A built-in theme by name.
    pub fn builtin(name: &str) -> Option<Theme> {
        let (_, text) = BUILTIN.iter().find(|(n, _)| *n == name)?;
        // Built-ins are checked by a test; a failure here would be a build defect.
        Theme::blank(name).overlay(text).ok()
    }

    /// The default theme (falls back to no styling at all, which is always usable).
    pub fn default_theme() -> Theme {
        Theme::builtin("default").unwrap_or_else(|| Theme::blank("default"))
    }

    /// Resolves `--theme NAME|FILE`: a built-in name, else a file path. A user file
    /// starts from the theme it `extends` (default: "default") and overrides only what it sets.
    pub fn load(spec: &str) -> Result<Theme, ThemeError> {
        if let Some(t) = Theme::builtin(spec) {
            return Ok(t);
        }
        let path = Path::new(spec);
        let text = std::fs::read_to_string(path).map_err(|_| ThemeError::Unknown(spec.into()))?;
        Theme::from_user_text(&text, &path.display().to_string())
    }

    /// A user theme from its text; `origin` names it in errors.
    pub fn from_user_text(text: &str, origin: &str) -> Result<Theme, ThemeError> {
        let invalid = |problem: String| ThemeError::Invalid {
            path: origin.to_string(),
            problem,
        };
        let head: ThemeFile = toml::from_str(text).unwrap_or_default();
        let base_name = head.extends.unwrap_or_else(|| "default".into());
        let base = Theme::builtin(&base_name).ok_or_else(|| {
            invalid(format!(
                "extends = \"{base_name}\" is not a built-in theme (default, mono, high-contrast)"
            ))
        })?;
        let base_label = base.name.clone();
        let mut t = base.overlay(text).map_err(invalid)?;
        if t.name == base_label {
            t.name = origin.to_string();
        }
        Ok(t)
    }

    /// Removes every colour, keeping bold/underline/reverse (NO_COLOR, mono terminals).
    pub fn without_colour(mut self) -> Theme {
        for key in MEANINGS {
            if let Some(s) = self.slot(key) {
                s.fg = None;
                s.bg = None;
                s.underline_color = None;
            }
        }
        self
    }
}

/// Whether the NO_COLOR convention asks for no colour (set and not empty).
pub fn no_color_requested(value: Option<&std::ffi::OsStr>) -> bool {
    value.is_some_and(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_parses_and_sets_every_meaning() {
        for (name, text) in BUILTIN {
            let file: ThemeFile = toml::from_str(text).unwrap();
            for m in MEANINGS {
                assert!(file.styles.contains_key(*m), "{name} lacks {m}");
            }
            let t = Theme::builtin(name).unwrap();
            assert_eq!(&t.name, name);
        }
        let mono = Theme::builtin("mono").unwrap();
        assert_eq!(mono.clone().without_colour(), mono, "mono has no colour");
    }

    #[test]
    fn user_file_overrides_only_what_it_sets() {
        let t =
            Theme::from_user_text("[styles]\nerror = { fg = \"magenta\" }\n", "mine.toml").unwrap();
        let d = Theme::default_theme();
        assert_eq!(t.error.fg, Some(Color::Magenta));
        assert_eq!(t.error.add_modifier, d.error.add_modifier, "bold kept");
        assert_eq!(t.ok, d.ok);
        let m = Theme::from_user_text(
            "extends = \"mono\"\n[styles]\nok = { bold = false }",
            "x.toml",
        )
        .unwrap();
        assert!(!m.ok.add_modifier.contains(Modifier::BOLD));
        assert_eq!(m.error, Theme::builtin("mono").unwrap().error);
    }

    #[test]
    fn broken_files_are_reported_with_the_bad_value() {
        let e = Theme::from_user_text("[styles]\nerror = { fg = \"blurple\" }", "b.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("\"blurple\"") && e.contains("b.toml"), "{e}");
        let e = Theme::from_user_text("[styles]\nbanner = {}", "b.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("\"banner\""), "{e}");
        let e = Theme::from_user_text("[styles\n", "b.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("b.toml"), "{e}");
        assert!(matches!(
            Theme::load("/nonexistent/theme.toml"),
            Err(ThemeError::Unknown(_))
        ));
    }

    #[test]
    fn no_color_means_set_and_not_empty() {
        assert!(no_color_requested(Some(std::ffi::OsStr::new("1"))));
        assert!(!no_color_requested(Some(std::ffi::OsStr::new(""))));
        assert!(!no_color_requested(None));
        let t = Theme::default_theme().without_colour();
        assert_eq!(t.ok.fg, None);
        assert!(t.ok.add_modifier.contains(Modifier::BOLD));
    }
}
