//! The configuration and manifest fixtures (fixtures/{config,manifest}/{valid,invalid})
//! through the real loaders: every valid one loads, every invalid one is refused with
//! the text in its NAME.err beside it. Invalid configurations also go through the
//! binary, whose `status` and `check` must exit 2 and say the same.

use crate::support::*;
use std::path::{Path, PathBuf};
use upgrade_core::appliance::config::Config;
use upgrade_core::appliance::root::ApplianceRoot;
use upgrade_core::image::manifest::Manifest;

/// The NAME.toml files of a fixture folder, sorted, with their expected error text
/// (NAME.err, trimmed; None in the valid folders).
fn fixtures(kind: &str, valid: bool) -> Vec<(PathBuf, Option<String>)> {
    let dir = here()
        .join("fixtures")
        .join(kind)
        .join(if valid { "valid" } else { "invalid" });
    let mut out: Vec<(PathBuf, Option<String>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("fixture folder {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .map(|p| {
            let err = (!valid).then(|| {
                let e = p.with_extension("err");
                std::fs::read_to_string(&e)
                    .unwrap_or_else(|err| {
                        panic!("{} has no {} beside it: {err}", p.display(), e.display())
                    })
                    .trim()
                    .to_string()
            });
            (p, err)
        })
        .collect();
    out.sort();
    assert!(
        out.len() >= 3,
        "only {} fixtures in {}",
        out.len(),
        dir.display()
    );
    out
}

fn name(p: &Path) -> String {
    p.file_stem().unwrap().to_string_lossy().into_owned()
}

/// Fails once, listing every fixture that did not behave.
fn report(what: &str, failures: Vec<String>) {
    assert!(
        failures.is_empty(),
        "{} {what} fixture(s) misbehaved:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

/// Installs a configuration fixture as `etc/appliance/appliance.toml` of `root`, the
/// name the errors carry.
fn install_config(root: &Path, fixture: &Path) {
    let r = ApplianceRoot::new(root);
    std::fs::create_dir_all(r.config_file().parent().unwrap()).unwrap();
    std::fs::copy(fixture, r.config_file()).unwrap();
}

#[test]
fn config_fixtures_through_the_loader() {
    let d = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    for (p, _) in fixtures("config", true) {
        install_config(d.path(), &p);
        if let Err(e) = Config::load(&ApplianceRoot::new(d.path())) {
            failures.push(format!("valid/{}: refused: {e}", name(&p)));
        }
    }
    for (p, want) in fixtures("config", false) {
        let want = want.unwrap();
        install_config(d.path(), &p);
        match Config::load(&ApplianceRoot::new(d.path())) {
            Ok(_) => failures.push(format!("invalid/{}: loaded", name(&p))),
            Err(e) if !e.to_string().contains(&want) => failures.push(format!(
                "invalid/{}: the error\n  {e}\nlacks\n  {want}",
                name(&p)
            )),
            Err(_) => {}
        }
    }
    report("config", failures);
}

#[test]
fn invalid_config_fixtures_through_the_binary() {
    let (_d, root) = demo();
    let iso = root.join("images/sps-7.3.1.iso");
    let mut failures = Vec::new();
    for (p, want) in fixtures("config", false) {
        let want = want.unwrap();
        install_config(&root, &p);
        for args in [vec!["status"], vec!["check", iso.to_str().unwrap()]] {
            let o = run(&root, &args);
            let t = text(&o);
            if code(&o) != 2 || !t.contains(&want) {
                failures.push(format!(
                    "invalid/{} with `{}`: exit {}, wanted 2 and\n  {want}\n{}",
                    name(&p),
                    args[0],
                    code(&o),
                    describe(&o)
                ));
            }
        }
    }
    report("config", failures);
}

#[test]
fn manifest_fixtures_through_the_parser() {
    let mut failures = Vec::new();
    for (p, _) in fixtures("manifest", true) {
        if let Err(e) = Manifest::parse(&std::fs::read_to_string(&p).unwrap()) {
            failures.push(format!("valid/{}: refused: {e}", name(&p)));
        }
    }
    for (p, want) in fixtures("manifest", false) {
        let want = want.unwrap();
        match Manifest::parse(&std::fs::read_to_string(&p).unwrap()) {
            Ok(_) => failures.push(format!("invalid/{}: parsed", name(&p))),
            Err(e) if !e.to_string().contains(&want) => failures.push(format!(
                "invalid/{}: the error\n  {e}\nlacks\n  {want}",
                name(&p)
            )),
            Err(_) => {}
        }
    }
    report("manifest", failures);
}

/// A manifest larger than 1 MiB is refused before it is parsed (made here: a 1 MiB
/// fixture file would weigh on the repository for one line of assertion).
#[test]
fn oversized_manifest_is_refused() {
    let text = format!(
        "{}\n# {}\n",
        std::fs::read_to_string(here().join("fixtures/manifest/valid/minimal.toml")).unwrap(),
        "x".repeat(1 << 20)
    );
    let e = Manifest::parse(&text).unwrap_err().to_string();
    assert!(e.contains("is larger than 1 MiB"), "{e}");
}

/// An oversized configuration file is refused before it is read.
#[test]
fn oversized_config_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let r = ApplianceRoot::new(d.path());
    std::fs::create_dir_all(r.config_file().parent().unwrap()).unwrap();
    let f = std::fs::File::create(r.config_file()).unwrap();
    f.set_len((4 << 20) + 1).unwrap();
    let e = Config::load(&r).unwrap_err().to_string();
    assert!(e.contains("too large for a configuration file"), "{e}");
}
