//! Step 2: choosing the image and entering its published hash.

use super::Panel;
#[allow(unused_imports)]
use super::*;
use crate::tui::app::Step;
use crate::tui::keys::{self, Action, Ctx};

pub(super) fn draw(app: &App, p: &mut Panel) {
    let w = &app.wizard;
    let s = sym(app.ascii);
    let inner_w = p.width;
    let lines = &mut p.lines;
    let hints = &mut p.hints;

    lines.push(Line::styled(
        format!("Images in {}:", w.images_dir.display()),
        app.theme.guidance,
    ));
    if w.images.is_empty() {
        lines.push(Line::styled(
            "  none: copy the firmware ISO there, then r",
            app.theme.warning,
        ));
    }
    let shown = 6usize;
    let first = w.image_cursor.saturating_sub(shown - 1);
    for (i, img) in w.images.iter().enumerate().skip(first).take(shown) {
        let name = img
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let size = std::fs::metadata(img)
            .map(|m| human(m.len()))
            .unwrap_or_default();
        let style = if i == w.image_cursor {
            app.theme.selected
        } else {
            app.theme.text
        };
        let nw = inner_w.saturating_sub(12);
        let name: String = if name.chars().count() > nw {
            name.chars()
                .take(nw.saturating_sub(1))
                .chain(['~'])
                .collect()
        } else {
            name
        };
        lines.push(Line::styled(
            format!(
                "{} {name:<nw$} {size:>9}",
                if i == w.image_cursor { s.current } else { " " }
            ),
            style,
        ));
    }
    // Who may sign and how old an image may be, from the status report.
    if let Some(Ok(st)) = &app.status {
        let keys: Vec<String> = st
            .trusted_keys
            .iter()
            .map(|k| format!("key {} ({})", k.key_id, k.name))
            .collect();
        let signers = if keys.is_empty() {
            "none installed: every image is refused".to_string()
        } else {
            keys.join(", ")
        };
        for l in wrap(&format!("Signers: {signers}"), inner_w) {
            lines.push(Line::styled(l, app.theme.muted));
        }
        let floor = match &st.version_floor {
            Some(f) => format!("Floor: {f} (older images are refused)"),
            None => "Floor: none yet (raised at each commit)".to_string(),
        };
        lines.push(Line::styled(floor, app.theme.muted));
    }
    lines.push(Line::raw(""));
    if w.editing_hash {
        lines.push(Line::styled(
            "Type or paste the published SHA-256 (any form):",
            app.theme.guidance,
        ));
        let input: Vec<&str> = w.hash_input.split('\n').collect();
        for l in input.iter().skip(input.len().saturating_sub(3)) {
            let tail: String = l
                .chars()
                .rev()
                .take(inner_w.saturating_sub(2))
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            lines.push(Line::styled(format!("> {tail}"), app.theme.key));
        }
        *hints = keys::hints(&[
            (Ctx::HashEntry, Action::HashAccept, "accept"),
            (Ctx::HashEntry, Action::HashCancel, "cancel"),
            (Ctx::HashEntry, Action::HashClear, "clear"),
        ]);
    } else {
        match &w.expected {
            Some(h) => {
                lines.extend(hash_lines(app, "SHA-256", &hex::encode(h), app.theme.text));
                lines.push(Line::styled(
                    format!("          from {}", w.hash_source),
                    app.theme.muted,
                ));
            }
            None => lines.push(Line::styled(
                "No expected hash yet: press e and type or paste it.",
                app.theme.warning,
            )),
        }
        *hints = keys::hints(&[
            (Ctx::Step(Step::Image), Action::Down, "image"),
            (Ctx::Step(Step::Image), Action::EditHash, "hash"),
            (Ctx::Step(Step::Image), Action::Rescan, "rescan"),
            (Ctx::Wizard, Action::StepNext, "next"),
            (Ctx::Wizard, Action::StepBack, "back"),
        ]);
    }
    if let Some(e) = &w.hash_error {
        for l in wrap(e, inner_w) {
            lines.push(Line::styled(l, app.theme.error));
        }
    }
}
