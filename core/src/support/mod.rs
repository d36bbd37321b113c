//! What leaves the box for support: the bundle, and the secrets kept out of it.
pub mod bundle;
pub mod secrets;
