//! The HA pair (SPEC §8): both nodes side by side (role, Current, After reboot, HA
//! state, power from the other node's BMC), the HA link's health, and the pair's
//! upgrade step by step: `n` runs the next step, asking first for power, reboot and
//! role changes; what each step cannot undo and whether the secondary may be powered
//! on is always said.

use super::Hints;
use crate::tui::app::App;
use crate::tui::keys::{self, Action, Ctx};
use crate::tui::ui::{block, wrap};
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::{Paragraph, Widget};
use upgrade_core::ha::procedure::STEPS;

fn ver(v: Option<upgrade_core::image::version::Version>) -> String {
    v.map(|v| v.to_string()).unwrap_or_else(|| "?".into())
}

pub fn draw(app: &App, area: Rect, buf: &mut Buffer) -> Hints {
    let t = &app.theme;
    let width = area.width.saturating_sub(4) as usize;
    let rows = area.height.saturating_sub(2) as usize;
    let mut lines: Vec<Line> = Vec::new();
    let has_ha = app.config.as_ref().is_ok_and(|c| c.ha.is_some());
    if !has_ha {
        lines.push(Line::styled(
            "This appliance is not part of an HA pair (no [ha] section in appliance.toml).",
            t.text,
        ));
        Paragraph::new(lines)
            .block(block(app, "HA pair"))
            .render(area, buf);
        return vec![];
    }
    let Some(v) = app.ha.as_deref() else {
        lines.push(Line::styled(
            "Asking the other node and its BMC...",
            t.muted,
        ));
        Paragraph::new(lines)
            .block(block(app, "HA pair"))
            .render(area, buf);
        return keys::hints(&[(Ctx::Ha, Action::Refresh, "refresh")]);
    };
    let o = v.other_node.as_ref();
    // Each cell fits its column; a longer value (an unknown health's reason) is cut
    // with "~" and said in full below or by `ha status`.
    let cut = |s: String, w: usize| -> String {
        if s.chars().count() > w {
            s.chars().take(w.saturating_sub(1)).chain(['~']).collect()
        } else {
            s
        }
    };
    let second = width.saturating_sub(36).max(8);
    let col = |label: &str, a: String, b: String| {
        format!("{label:<14}{:<22}{}", cut(a, 21), cut(b, second))
    };
    let role = |r: Option<upgrade_core::appliance::config::HaRole>| {
        r.map(upgrade_core::ha::link::role_name)
            .unwrap_or("-")
            .to_string()
    };
    let dash = || "-".to_string();
    lines.push(Line::styled(
        col(
            "",
            format!("this node {}", v.this_node.hostname),
            format!(
                "other node {}",
                o.map(|n| n.hostname.clone()).unwrap_or_else(dash)
            ),
        ),
        t.muted,
    ));
    for (label, a, b) in [
        (
            "Role",
            role(v.this_node.role),
            o.map(|n| role(n.role)).unwrap_or_else(dash),
        ),
        (
            "Current",
            ver(v.this_node.current),
            o.map(|n| ver(n.current)).unwrap_or_else(dash),
        ),
        (
            "After reboot",
            ver(v.this_node.after_reboot),
            o.map(|n| ver(n.after_reboot)).unwrap_or_else(dash),
        ),
        (
            "HA state",
            v.this_node.health.clone(),
            o.map(|n| n.health.clone()).unwrap_or_else(dash),
        ),
        (
            "Power (IPMI)",
            "on".into(),
            v.other_power
                .map(|p| p.to_string())
                .unwrap_or_else(|| "unknown".into()),
        ),
    ] {
        lines.push(Line::styled(col(label, a, b), t.text));
    }
    let mut trouble: Vec<String> = vec![];
    if let Some(e) = &v.other_node_error {
        trouble.push(format!("HA link: {e}"));
    }
    if let Some(e) = &v.other_power_error {
        trouble.push(format!("IPMI: {e}"));
    }
    if trouble.is_empty() {
        lines.push(Line::styled("HA link: ok", t.muted));
    }
    for tr in &trouble {
        // Two lines each at most: the log and `ha status` have the whole message.
        for l in wrap(tr, width).into_iter().take(2) {
            lines.push(Line::styled(l, t.warning));
        }
    }
    let mut tail: Vec<Line> = vec![];
    match v.under_way() {
        Some(p) => {
            lines.push(Line::styled(
                format!(
                    "HA upgrade to {}: {} of {} steps done",
                    p.version,
                    p.done.len(),
                    STEPS.len()
                ),
                t.guidance,
            ));
            let next = p.next();
            let mut step_lines: Vec<(usize, Line)> = vec![];
            let running = app.ha_run.is_some();
            for (i, s) in STEPS.iter().enumerate() {
                let (mark, style) = if p.done.contains(s) {
                    (if app.ascii { "[x]" } else { "[✓]" }, t.muted)
                } else if Some(*s) == next {
                    (if running { "[~]" } else { "[>]" }, t.selected)
                } else {
                    ("[ ]", t.text)
                };
                step_lines.push((
                    i,
                    Line::styled(format!("{mark} {:>2} {}", i + 1, s.title()), style),
                ));
            }
            if let Some((s, why)) = &p.stopped {
                for l in wrap(&format!("Stopped at {s}: {why}"), width)
                    .into_iter()
                    .take(3)
                {
                    tail.push(Line::styled(l, t.danger));
                }
            }
            tail.push(Line::styled(
                if v.secondary_may_power_on {
                    "The secondary may be powered on."
                } else {
                    "Do NOT power the secondary on now."
                },
                if v.secondary_may_power_on {
                    t.muted
                } else {
                    t.warning
                },
            ));
            // Only the steps around the next one when the screen is short.
            let room = rows.saturating_sub(lines.len() + tail.len()).max(3);
            let at = next
                .and_then(|n| STEPS.iter().position(|s| *s == n))
                .unwrap_or(0);
            let start = at
                .saturating_sub(room / 3)
                .min(STEPS.len().saturating_sub(room));
            lines.extend(
                step_lines
                    .into_iter()
                    .filter(|(i, _)| *i >= start && *i < start + room)
                    .map(|(_, l)| l),
            );
        }
        None => {
            let last = match &v.upgrade {
                Some(p) if p.finished() => {
                    format!("The last HA upgrade, to {}, is finished.", p.version)
                }
                Some(p) => format!(
                    "The last HA upgrade, to {}, was closed unfinished.",
                    p.version
                ),
                None => "No HA upgrade recorded.".into(),
            };
            lines.push(Line::styled(last, t.muted));
            let img = app
                .wizard
                .images
                .get(app.wizard.image_cursor)
                .and_then(|p| p.file_name())
                .map(|n| n.to_string_lossy().into_owned());
            let secondary =
                v.this_node.role == Some(upgrade_core::appliance::config::HaRole::Secondary);
            let say = match img {
                _ if secondary => format!(
                    "This node is the secondary: the pair's upgrade runs on the primary, {}.",
                    o.map(|n| n.hostname.clone())
                        .unwrap_or_else(|| "the other node".into())
                ),
                Some(i) => {
                    format!("n starts the pair's upgrade with {i} (chosen in the upgrade wizard).")
                }
                None => "Choose an image in the upgrade wizard (2) to upgrade the pair.".into(),
            };
            for l in wrap(&say, width) {
                tail.push(Line::styled(l, t.guidance));
            }
        }
    }
    lines.extend(tail);
    Paragraph::new(lines)
        .block(block(app, "HA pair"))
        .render(area, buf);
    if let Some(c) = app.wizard.confirm {
        super::wizard::confirm(app, c, area, buf);
    }
    keys::hints(&[
        (Ctx::Ha, Action::HaNext, "next step"),
        (Ctx::Ha, Action::Refresh, "refresh"),
        (Ctx::Ha, Action::HaRestore, "restore"),
    ])
}
