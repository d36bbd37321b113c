//! The firmware image: ISO reading, the manifest inside it, versions, expected hashes
//! in every pasted form, and verification (one read, two digests).
pub mod hash_forms;
pub mod image_hash;
pub mod iso;
pub mod manifest;
pub mod verify;
pub mod version;
