//! The firmware image: ISO reading, the manifest inside it, versions, expected hashes
//! in every pasted form, the vendor's signature and the trust anchors it is checked
//! against, and verification (one read, two digests, one signature).
pub mod hash_forms;
pub mod image_hash;
pub mod iso;
pub mod manifest;
pub mod signature;
pub mod trust;
pub mod verify;
pub mod version;
