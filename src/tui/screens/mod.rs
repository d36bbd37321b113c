//! One module per screen. Each draws into the body area from `&App` and returns
//! the key hints for the bottom line, so every action's key is on screen.

pub mod cluster;
pub mod ha;
pub mod help;
pub mod logs;
pub mod recovery;
pub mod status;
pub mod wizard;

/// Key hints: (key, what it does).
pub type Hints = Vec<(&'static str, &'static str)>;
