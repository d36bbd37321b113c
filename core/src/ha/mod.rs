//! The high-availability pair: the other node's BMC (IPMI), the HA link between the
//! nodes (OpenSSH with node keys), what a node says about itself, the role in the
//! configuration, and the pair's upgrade as a resumable state machine on the primary.
pub mod guard;
pub mod ipmi;
pub mod link;
pub mod node;
pub mod procedure;
pub mod role;
pub mod serve;
pub mod view;
