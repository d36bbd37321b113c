//! A secondary never commits firmware newer than its primary runs. Its boot phase asks
//! the primary over the HA link before phase 1; when the primary answers with an older
//! version (it rolled back while the secondary was powered off, armed with the new
//! firmware), the trial boot is declined and rolled back before anything changed, so
//! the pair is back on one firmware. When the primary does not answer, the boot goes
//! on: the HA procedure powers the secondary on only after the primary committed.

use crate::appliance::config::{Config, HaRole};
use crate::appliance::root::ApplianceRoot;
use crate::image::version::Version;
use std::time::Duration;

pub fn secondary_may_boot(
    root: &ApplianceRoot,
    config: &Config,
    new: Version,
) -> Result<(), String> {
    let Some(ha) = config.ha.as_ref().filter(|h| h.role == HaRole::Secondary) else {
        return Ok(());
    };
    let mut link = match crate::ha::link::Link::new(root, ha) {
        Ok(l) => l,
        Err(e) => {
            log::warn!("boot: HA secondary: cannot ask the primary ({e}); going on");
            return Ok(());
        }
    };
    link.connect_timeout = Duration::from_secs(10);
    match link.state() {
        Ok(p) => match p.current {
            Some(v) if v < new => Err(format!(
                "this node is the HA secondary and its primary ({}) runs firmware {v}: a secondary does not move ahead of its primary (the primary's upgrade rolled back)",
                p.hostname
            )),
            _ => Ok(()),
        },
        Err(e) => {
            log::warn!("boot: HA secondary: the primary does not answer ({e}); going on");
            Ok(())
        }
    }
}
