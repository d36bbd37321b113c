//! Builds firmware ISO images (Rock Ridge + Joliet) with the project's own code, for
//! the demo appliance and tests: no xorriso needed on a fresh machine.

use hadris_iso::read::PathSeparator;
use hadris_iso::write::options::{CreationFeatures, IsoFormatOptions};
use hadris_iso::write::{File as IsoFile, InputFiles, IsoImageWriter};
use std::fs::OpenOptions;
use std::io;
use std::path::Path;
use std::sync::Arc;

/// Files of an image: slash-separated relative path and contents.
pub type ImageFiles = Vec<(String, Vec<u8>)>;

fn insert(tree: &mut Vec<IsoFile>, parts: &[&str], contents: Vec<u8>) {
    let (first, rest) = match parts {
        [] => return,
        [first, rest @ ..] => (*first, rest),
    };
    if rest.is_empty() {
        tree.push(IsoFile::File {
            name: Arc::new(first.to_string()),
            contents,
        });
        return;
    }
    let pos = tree
        .iter()
        .position(|f| matches!(f, IsoFile::Directory { name, .. } if name.as_str() == first));
    let idx = match pos {
        Some(i) => i,
        None => {
            tree.push(IsoFile::Directory {
                name: Arc::new(first.to_string()),
                children: Vec::new(),
            });
            tree.len() - 1
        }
    };
    if let IsoFile::Directory { children, .. } = &mut tree[idx] {
        insert(children, rest, contents);
    }
}

/// Writes an ISO9660 image with Rock Ridge and Joliet names to `out` (atomically:
/// a temporary file renamed into place).
pub fn build_iso(out: &Path, volume: &str, files: ImageFiles) -> io::Result<()> {
    let mut tree = Vec::new();
    for (path, contents) in files {
        let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
        insert(&mut tree, &parts, contents);
    }
    let input = InputFiles {
        path_separator: PathSeparator::ForwardSlash,
        files: tree,
    };
    let options = IsoFormatOptions {
        volume_name: volume.to_string(),
        system_id: None,
        volume_set_id: None,
        publisher_id: None,
        preparer_id: Some("UPGRADE-CONSOLE".into()),
        application_id: None,
        sector_size: 2048,
        path_separator: PathSeparator::ForwardSlash,
        features: CreationFeatures::extensions(),
        strict_charset: false,
    };
    let tmp = out.with_extension("iso.tmp");
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)?;
    let file = IsoImageWriter::create(file, input, options)
        .map_err(|e| io::Error::other(format!("{e}")))?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&tmp, out)?;
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        upgrade_core::appliance::durable::sync_dir(dir)?;
    }
    Ok(())
}
