//! The upgrade order of a central cluster (from the guides): Search Minion nodes
//! first, then the other managed hosts, then the Central Management node if it is
//! not the Search Master, and the Search Master last. Nodes already upgraded cannot
//! audit traffic until the whole cluster runs the new version.

use crate::appliance::config::Config;
use crate::image::version::Version;
use serde::Serialize;

pub const SEARCH_MINION: &str = "search-minion";
pub const SEARCH_MASTER: &str = "search-master";
pub const CENTRAL_MANAGEMENT: &str = "central-management";

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PlannedNode {
    pub step: usize,
    pub name: String,
    pub roles: Vec<String>,
    pub version: Option<String>,
    /// "upgraded", "next", "waiting", or "unknown" (no version reported).
    pub state: String,
    /// This appliance.
    pub this_node: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct ClusterPlan {
    pub target: Option<String>,
    pub nodes: Vec<PlannedNode>,
    pub mixed_versions: bool,
}

fn rank(roles: &[String]) -> u8 {
    let has = |r: &str| roles.iter().any(|x| x == r);
    if has(SEARCH_MASTER) {
        3
    } else if has(CENTRAL_MANAGEMENT) {
        2
    } else if has(SEARCH_MINION) {
        0
    } else {
        1
    }
}

/// The plan for this appliance's cluster; `None` for a standalone node.
pub fn plan(
    config: &Config,
    running: Option<Version>,
    target: Option<Version>,
) -> Option<ClusterPlan> {
    let cluster = config.cluster.as_ref()?;
    let mut nodes: Vec<(String, Vec<String>, Option<Version>, bool)> = vec![(
        config.appliance.hostname.clone(),
        cluster.roles.clone(),
        running,
        true,
    )];
    for n in &cluster.nodes {
        nodes.push((n.name.clone(), n.roles.clone(), n.version, false));
    }
    // Stable: equal ranks keep the configured order.
    nodes.sort_by_key(|(_, roles, _, _)| rank(roles));
    let mut next_given = false;
    let planned = nodes
        .into_iter()
        .enumerate()
        .map(|(i, (name, roles, version, this_node))| {
            let state = match (version, target) {
                (None, _) => "unknown".to_string(),
                (Some(v), Some(t)) if v >= t => "upgraded".to_string(),
                (Some(_), Some(_)) if !next_given => {
                    next_given = true;
                    "next".to_string()
                }
                (Some(_), Some(_)) => "waiting".to_string(),
                (Some(_), None) => "-".to_string(),
            };
            PlannedNode {
                step: i + 1,
                name,
                roles,
                version: version.map(|v| v.to_string()),
                state,
                this_node,
            }
        })
        .collect::<Vec<_>>();
    let versions: std::collections::BTreeSet<_> =
        planned.iter().filter_map(|n| n.version.clone()).collect();
    Some(ClusterPlan {
        target: target.map(|t| t.to_string()),
        mixed_versions: versions.len() > 1,
        nodes: planned,
    })
}

pub fn render_text(p: &ClusterPlan) -> String {
    use std::fmt::Write;
    let mut o = String::new();
    let _ = writeln!(
        o,
        "Cluster upgrade order{}\n",
        p.target
            .as_ref()
            .map(|t| format!(" to {t}"))
            .unwrap_or_default()
    );
    let _ = writeln!(
        o,
        "{:<4} {:<18} {:<10} {:<9} roles",
        "step", "node", "version", "state"
    );
    for n in &p.nodes {
        let name = if n.this_node {
            format!("{} (this)", n.name)
        } else {
            n.name.clone()
        };
        let roles = if n.roles.is_empty() {
            "managed-host".to_string()
        } else {
            n.roles.join(", ")
        };
        let _ = writeln!(
            o,
            "{:<4} {:<18} {:<10} {:<9} {}",
            n.step,
            name,
            n.version.as_deref().unwrap_or("?"),
            n.state,
            roles
        );
    }
    let _ = writeln!(
        o,
        "\nUpgraded nodes cannot audit traffic until every node runs the new version:"
    );
    let _ = writeln!(o, "reserve a maintenance window for the whole cluster.");
    if p.mixed_versions {
        let _ = writeln!(
            o,
            "The cluster runs mixed versions now: finish the upgrade before production use."
        );
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::appliance::config::Config;

    #[test]
    fn the_guides_order() {
        let text = r#"
[appliance]
product = "sps"
hostname = "cm"
[slots]
A = "a"
B = "b"
[cluster]
roles = ["central-management"]
nodes = [
  { name = "master", roles = ["search-master"], version = "7.0.1" },
  { name = "host-1", roles = [], version = "7.0.1" },
  { name = "minion-1", roles = ["search-minion"], version = "7.3.1" },
  { name = "minion-2", roles = ["search-minion"], version = "7.0.1" },
]
"#;
        let c = Config::parse(text, std::path::Path::new("a.toml")).unwrap();
        let p = plan(
            &c,
            Some("7.0.1".parse().unwrap()),
            Some("7.3.1".parse().unwrap()),
        )
        .unwrap();
        let order: Vec<_> = p
            .nodes
            .iter()
            .map(|n| (n.name.as_str(), n.state.as_str()))
            .collect();
        assert_eq!(
            order,
            [
                ("minion-1", "upgraded"),
                ("minion-2", "next"),
                ("host-1", "waiting"),
                ("cm", "waiting"),
                ("master", "waiting")
            ]
        );
        assert!(p.mixed_versions);
        // A Central Management node that is also the Search Master goes last, once.
        let c2 = Config::parse(
            &text
                .replace(
                    "roles = [\"central-management\"]",
                    "roles = [\"central-management\", \"search-master\"]",
                )
                .replace(
                    "{ name = \"master\", roles = [\"search-master\"], version = \"7.0.1\" },",
                    "",
                ),
            std::path::Path::new("a.toml"),
        )
        .unwrap();
        let p2 = plan(&c2, Some("7.0.1".parse().unwrap()), None).unwrap();
        assert_eq!(p2.nodes.last().unwrap().name, "cm");
    }
}
