//! Step 3: hashing the image and its payload.

use super::Panel;
#[allow(unused_imports)]
use super::*;
use crate::tui::app::Step;
use crate::tui::keys::{self, Action, Ctx};

pub(super) fn draw(app: &App, p: &mut Panel) {
    let w = &app.wizard;
    let inner_w = p.width;
    let text = |t: &str| Line::styled(t.to_string(), app.theme.text);
    let lines = &mut p.lines;
    let gauge = &mut p.gauge;
    let hints = &mut p.hints;

    let name = app
        .selected_image()
        .and_then(|p| p.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    lines.push(Line::styled(format!("Image {name}"), app.theme.text));
    match &w.verify {
        Job::Idle => {
            lines.push(text(
                "Reads the whole image once: its SHA-256 must equal the",
            ));
            lines.push(text(
                "published hash, and the payload inside it the hash in",
            ));
            lines.push(text("its manifest."));
            *hints = keys::hints(&[
                (Ctx::Step(Step::Verify), Action::Run, "verify"),
                (Ctx::Wizard, Action::StepBack, "back"),
            ]);
        }
        Job::Running { done, total } => {
            *gauge = Some((
                lines.len(),
                if *total > 0 {
                    *done as f64 / *total as f64
                } else {
                    0.0
                },
            ));
            lines.push(Line::raw(""));
            lines.push(text(&format!("{} of {}", human(*done), human(*total))));
        }
        Job::Done(r) => {
            let (st, word) = if r.image_ok {
                (app.theme.ok, "matches the published hash")
            } else {
                (app.theme.error, "DOES NOT MATCH the published hash")
            };
            lines.push(Line::styled(format!("Image    {word}"), st));
            lines.extend(hash_lines(app, "computed", &r.image_sha256, st));
            if !r.image_ok {
                lines.extend(hash_lines(
                    app,
                    "expected",
                    &r.expected_sha256,
                    app.theme.text,
                ));
            }
            let (st, word) = if r.payload_ok {
                (app.theme.ok, "matches the manifest")
            } else {
                (app.theme.error, "DOES NOT MATCH the manifest")
            };
            lines.push(Line::styled(
                format!("Payload  {} {word}", r.payload_file),
                st,
            ));
            match (&r.signer, &r.signature_error) {
                (Some(sg), None) => {
                    for l in wrap(&format!("Signer: key {} ({})", sg.key_id, sg.name), inner_w) {
                        lines.push(Line::styled(l, app.theme.ok));
                    }
                }
                (_, e) => {
                    let e = e.as_deref().unwrap_or("not checked");
                    for l in wrap(&format!("Signature REFUSED: {e}"), inner_w) {
                        lines.push(Line::styled(l, app.theme.error));
                    }
                }
            }
            lines.push(text(&format!(
                "Firmware {} {}, {}",
                r.product,
                r.version,
                human(r.bytes)
            )));
            if !r.ok() {
                lines.push(Line::styled(
                    "Do not use this image: download it again.",
                    app.theme.error,
                ));
            }
            // A mismatch cannot go on: `n` is not offered.
            *hints = if r.ok() {
                keys::hints(&[
                    (Ctx::Wizard, Action::StepNext, "next"),
                    (Ctx::Step(Step::Verify), Action::Run, "again"),
                    (Ctx::Wizard, Action::StepBack, "back"),
                ])
            } else {
                keys::hints(&[
                    (Ctx::Step(Step::Verify), Action::Run, "again"),
                    (Ctx::Wizard, Action::StepBack, "back"),
                ])
            };
        }
        Job::Failed(e) => {
            for l in wrap(e, inner_w) {
                lines.push(Line::styled(l, app.theme.error));
            }
            *hints = keys::hints(&[
                (Ctx::Step(Step::Verify), Action::Run, "retry"),
                (Ctx::Wizard, Action::StepBack, "back"),
            ]);
        }
    }
}
