//! The two root slots: what each holds, writing and reading them back, and the GRUB
//! environment that chooses which one boots.
pub mod bootchooser;
pub mod grubenv;
pub mod slot_io;
pub mod slot_status;
