//! What the binary prints when things go wrong (issue 9, defect 7): each cause once,
//! a missing image called missing, no panic when the reader goes away, ASCII under
//! `--ascii`, suggested commands that name the root.

use crate::support::{bin, code, demo, run, text};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

fn args_with_root<'a>(root: &'a Path, args: &[&'a str]) -> Vec<std::ffi::OsString> {
    let mut v: Vec<std::ffi::OsString> = vec!["--root".into(), root.into()];
    v.extend(args.iter().map(|a| a.into()));
    v
}

/// Runs the binary with stdout on a pipe whose reader reads one line and goes away.
fn read_one_line_and_close(args: &[std::ffi::OsString]) -> (i32, String) {
    let mut child = Command::new(bin())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn upgrade-console");
    let mut first = String::new();
    {
        let out = child.stdout.take().expect("stdout piped");
        BufReader::new(out)
            .read_line(&mut first)
            .expect("read the first line");
    }
    let o = child.wait_with_output().expect("wait for upgrade-console");
    (code(&o), String::from_utf8_lossy(&o.stderr).into_owned())
}

/// Runs the binary with stdout on a pipe that was closed before it started, so every
/// write it makes fails (what `| head -1` does to the rest of a long output).
fn closed_from_the_start(args: &[std::ffi::OsString]) -> (i32, String) {
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    let o = Command::new(bin())
        .args(args)
        .stdin(Stdio::null())
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .expect("run upgrade-console");
    (code(&o), String::from_utf8_lossy(&o.stderr).into_owned())
}

#[test]
fn a_closed_pipe_is_no_panic() {
    let (_d, root) = demo();
    let iso = root.join("images/sps-7.3.1.iso");
    let iso = iso.to_str().unwrap();
    let demo_dir = root.to_str().unwrap();
    let cases: Vec<(Vec<std::ffi::OsString>, &[i32])> = vec![
        (args_with_root(&root, &["--json", "check", iso]), &[0]),
        (args_with_root(&root, &["check", iso]), &[0]),
        (args_with_root(&root, &["status"]), &[0]),
        (args_with_root(&root, &["--json", "status"]), &[0]),
        (vec!["demo".into(), demo_dir.into()], &[0]),
        (args_with_root(&root, &["verify", iso]), &[0]),
    ];
    for (args, codes) in &cases {
        for (how, (c, err)) in [
            ("one line read", read_one_line_and_close(args)),
            ("closed before start", closed_from_the_start(args)),
        ] {
            assert!(
                !err.contains("panicked") && c != 101,
                "{args:?} ({how}) panicked, exit {c}: {err}"
            );
            assert!(codes.contains(&c), "{args:?} ({how}) exit {c}: {err}");
        }
    }
}

#[test]
fn a_missing_image_is_called_missing_once() {
    let (_d, root) = demo();
    let missing = root.join("images/nope.iso");
    let m = missing.to_str().unwrap();
    let o = run(&root, &["verify", m]);
    let t = text(&o);
    assert_eq!(code(&o), 2, "{t}");
    assert!(t.contains("cannot read the image"), "{t}");
    assert!(t.contains("nope.iso"), "{t}");
    assert!(
        !t.contains("no expected hash"),
        "reported as a missing hash: {t}"
    );
    for args in [
        vec!["verify", m, "--sha256", &"a".repeat(64)],
        vec!["check", m],
    ] {
        let o = run(&root, &args);
        let t = text(&o);
        assert_eq!(code(&o), 2, "{args:?}: {t}");
        assert_eq!(
            t.matches("No such file or directory").count(),
            1,
            "{args:?} says it more or less than once: {t}"
        );
    }
}

#[test]
fn a_bad_manifest_is_reported_once() {
    let (_d, root) = demo();
    let iso = root.join("images/bad-manifest.iso");
    upgrade_console::demo::iso_build::build_iso(
        &iso,
        "BADMANIFEST",
        vec![(
            "firmware/manifest.toml".into(),
            b"this is = = not toml\n".to_vec(),
        )],
    )
    .unwrap();
    let o = run(&root, &["check", iso.to_str().unwrap()]);
    let t = text(&o);
    assert_eq!(code(&o), 2, "{t}");
    assert_eq!(
        t.matches("is not valid").count(),
        1,
        "the manifest error is printed more or less than once: {t}"
    );
}

#[test]
fn ascii_check_prints_only_ascii() {
    let (_d, root) = demo();
    for iso in ["sps-7.3.1.iso", "sps-8.1.iso"] {
        let p = root.join("images").join(iso);
        let o = run(&root, &["--ascii", "check", p.to_str().unwrap()]);
        let t = text(&o);
        let bad: Vec<char> = t.chars().filter(|c| !c.is_ascii()).collect();
        assert!(bad.is_empty(), "--ascii check {iso} printed {bad:?}:\n{t}");
    }
}

#[test]
fn activate_suggests_commands_with_the_root() {
    let (_d, root) = demo();
    let iso = root.join("images/sps-7.3.1.iso");
    let i = iso.to_str().unwrap();
    let with_root = format!("upgrade-console --root {}", root.display());
    // Refused: verify and check first, on this root.
    let o = run(&root, &["activate", "--yes", i]);
    let t = text(&o);
    assert_eq!(code(&o), 1, "{t}");
    assert!(
        t.contains(&format!("{with_root} verify")) && t.contains(&format!("{with_root} check")),
        "the refusal's commands omit --root: {t}"
    );
    for args in [vec!["verify", i], vec!["check", i]] {
        let o = run(&root, &args);
        assert_eq!(code(&o), 0, "{args:?}: {}", text(&o));
    }
    let o = run(&root, &["activate", "--yes", i]);
    let t = text(&o);
    assert_eq!(code(&o), 0, "{t}");
    assert!(
        t.contains(&format!("{with_root} reboot")),
        "activate's next command omits --root: {t}"
    );
}

/// Output that cannot be written for another reason than a closed pipe (a full disk
/// behind `>`) is an error the operator sees (exit 2), not a panic.
#[test]
fn a_full_disk_behind_stdout_is_reported() {
    let (_d, root) = demo();
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("open /dev/full");
    let o = Command::new(bin())
        .arg("--root")
        .arg(&root)
        .arg("status")
        .stdin(Stdio::null())
        .stdout(full)
        .stderr(Stdio::piped())
        .output()
        .expect("run upgrade-console");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(code(&o), 2, "{err}");
    assert!(err.contains("could not be written"), "{err}");
}
