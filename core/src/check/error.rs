//! Why the upgrade test could not run at all (a failed check is a finding, not an
//! error): the appliance's own state or the image's rules could not be read.

use crate::check::rules::RuleError;
use crate::slots::slot_status::SlotStatusError;

/// The upgrade test stopped before it could judge the image.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error(transparent)]
    SlotStatus(#[from] SlotStatusError),
    /// Measuring the free space of the configured storage paths failed.
    #[error(transparent)]
    Space(#[from] std::io::Error),
    #[error(transparent)]
    Rules(#[from] RuleError),
}
