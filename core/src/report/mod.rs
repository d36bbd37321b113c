//! What `status` and `cluster plan` report.
pub mod cluster;
pub mod status;
