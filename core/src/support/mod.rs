//! What leaves the box for support: the bundle, secrets redacted.
pub mod bundle;
