//! The central cluster's upgrade plan (`upgrade_core::report::cluster::plan`, SPEC §8): Search
//! Minions first, then the other managed hosts, then the Central Management node if
//! it is not the Search Master, then the Search Master; each node's version and state.

use super::Hints;
use crate::tui::app::App;
use crate::tui::ui::{block, wrap};
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::{Paragraph, Widget};

pub fn draw(app: &App, area: Rect, buf: &mut Buffer) -> Hints {
    let t = &app.theme;
    let width = area.width.saturating_sub(4) as usize;
    let mut lines: Vec<Line> = Vec::new();
    let plan = app.config.as_ref().ok().and_then(|c| {
        upgrade_core::report::cluster::plan(c, app.running_version(), app.target_version())
    });
    match plan {
        None => lines.push(Line::styled(
            "This appliance is not part of a central cluster: no plan needed.",
            t.text,
        )),
        Some(p) => {
            if let Some(target) = &p.target {
                lines.push(Line::styled(
                    format!("Upgrading the cluster to {target}:"),
                    t.guidance,
                ));
            }
            lines.push(Line::styled(
                format!(
                    "{:<3} {:<24} {:<9} {:<9} roles",
                    "#", "node", "version", "state"
                ),
                t.muted,
            ));
            for n in &p.nodes {
                let name = if n.this_node {
                    format!("{} (this node)", n.name)
                } else {
                    n.name.clone()
                };
                let style = if n.state == "next" {
                    t.selected
                } else {
                    t.text
                };
                lines.push(Line::styled(
                    format!(
                        "{:<3} {:<24} {:<9} {:<9} {}",
                        n.step,
                        name,
                        n.version.clone().unwrap_or_else(|| "?".into()),
                        n.state,
                        n.roles.join(", ")
                    ),
                    style,
                ));
            }
            lines.push(Line::raw(""));
            let note = if p.mixed_versions {
                "The nodes run different versions: nodes already upgraded cannot audit traffic until the whole cluster runs the new firmware."
            } else {
                "Nodes already upgraded cannot audit traffic until the whole cluster runs the new firmware."
            };
            for l in wrap(note, width) {
                lines.push(Line::styled(l, t.warning));
            }
        }
    }
    Paragraph::new(lines)
        .block(block(app, "Cluster plan"))
        .render(area, buf);
    vec![]
}
