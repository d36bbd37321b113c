//! The central cluster's upgrade order (SPEC §8): Search Minions first, then the
//! other managed hosts, then the Central Management node if it is not the Search
//! Master, then the Search Master; each node with the version it last reported.

use super::Hints;
use crate::tui::app::App;
use crate::tui::ui::{block, wrap};
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::{Paragraph, Widget};

/// Upgrade rank of a node from its roles: lower goes first.
pub fn rank(roles: &[String]) -> u8 {
    let has = |r: &str| roles.iter().any(|x| x.eq_ignore_ascii_case(r));
    if has("search-master") {
        3
    } else if has("central-management") {
        2
    } else if has("search-minion") {
        0
    } else {
        1
    }
}

pub fn draw(app: &App, area: Rect, buf: &mut Buffer) -> Hints {
    let t = &app.theme;
    let width = area.width.saturating_sub(4) as usize;
    let mut lines: Vec<Line> = Vec::new();
    match app
        .config
        .as_ref()
        .ok()
        .and_then(|c| c.cluster.as_ref().map(|cl| (c, cl)))
    {
        None => lines.push(Line::styled(
            "This appliance is not part of a central cluster: no plan needed.",
            t.text,
        )),
        Some((c, cl)) => {
            let mut nodes: Vec<(String, Vec<String>, String)> = cl
                .nodes
                .iter()
                .map(|n| {
                    (
                        n.name.clone(),
                        n.roles.clone(),
                        n.version
                            .map(|v| v.to_string())
                            .unwrap_or_else(|| "?".into()),
                    )
                })
                .collect();
            nodes.push((
                format!("{} (this node)", c.appliance.hostname),
                cl.roles.clone(),
                app.running_version()
                    .map(|v| v.to_string())
                    .unwrap_or_else(|| "?".into()),
            ));
            nodes.sort_by_key(|n| rank(&n.1));
            lines.push(Line::styled(
                format!("{:<3} {:<24} {:<10} roles", "#", "node", "version"),
                t.muted,
            ));
            for (i, (name, roles, version)) in nodes.iter().enumerate() {
                lines.push(Line::styled(
                    format!(
                        "{:<3} {:<24} {:<10} {}",
                        i + 1,
                        name,
                        version,
                        roles.join(", ")
                    ),
                    t.text,
                ));
            }
            lines.push(Line::raw(""));
            for l in wrap(
                "Nodes already upgraded cannot audit traffic until the whole cluster runs the new firmware.",
                width,
            ) {
                lines.push(Line::styled(l, t.warning));
            }
        }
    }
    Paragraph::new(lines)
        .block(block(app, "Cluster plan"))
        .render(area, buf);
    vec![]
}
