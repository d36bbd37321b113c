//! The runner: carries out the `Effect`s `App::update` returns (children of this
//! program, worker threads, the wizard's state file) and reports back as `Msg`.
//! Kept apart so `update` itself is tested without spawning anything.

use crate::tui::app::{App, Effect, Msg};
use crate::tui::worker;

/// Does each effect; a child's start is fed back to `app` at once (`Msg::Started`),
/// with any effects that causes.
pub fn run(app: &mut App, effects: Vec<Effect>) {
    let mut queue: std::collections::VecDeque<Effect> = effects.into();
    while let Some(e) = queue.pop_front() {
        match e {
            Effect::Spawn { op, args } => {
                let result =
                    worker::spawn_detached(&app.self_exe, &app.root, op, args, app.tx.clone())
                        .map(|run| run.pid)
                        .map_err(|e| e.to_string());
                queue.extend(app.update(Msg::Started { op, result }).effects);
            }
            Effect::Verify { image, expected } => {
                worker::verify(app.root.clone(), image, expected, app.tx.clone())
            }
            Effect::Check {
                image,
                iso_sha256,
                ticked,
            } => match &app.config {
                Ok(cfg) => worker::check(
                    app.root.clone(),
                    cfg.clone(),
                    image,
                    iso_sha256,
                    ticked,
                    app.tx.clone(),
                ),
                Err(e) => {
                    let _ = app.tx.send(Msg::CheckDone(Err(format!(
                        "the configuration does not load: {e}"
                    ))));
                }
            },
            Effect::GatherStatus => {
                if let Ok(cfg) = &app.config {
                    worker::gather_status(app.root.clone(), cfg.clone(), app.tx.clone());
                }
            }
            Effect::GatherHa => {
                if let Ok(cfg) = &app.config {
                    worker::gather_ha(app.root.clone(), cfg.clone(), app.tx.clone());
                }
            }
            Effect::SaveWizard(p) => {
                if let Err(e) = p.save(&app.root) {
                    log::warn!("cannot record the wizard's state: {e}");
                }
            }
        }
    }
}
