//! The bootchooser (RAUC's bootchooser/mark model) over the GRUB environment: the
//! only code that changes `ORDER`, `X_OK` and `X_TRY`. Each transition is a pure
//! change of a [`GrubEnv`]; [`load`] and [`save`] move it to and from the disk.
//!
//! - [`arm_trial`]: the new slot boots once at the next power-up, the old one after.
//! - [`disarm`]: a slot whose contents are going or unknown is never booted.
//! - [`mark_good`]: the booted slot came up healthy; its attempts start again.
//! - [`mark_active`]: this slot is the one to boot from now on (commit, or the point
//!   of no return of a migration).
//! - [`mark_bad`]: a slot that failed is never booted again until re-armed.
//! - [`rollback`]: the failed slot is marked bad and the fallback boots again.

use crate::slots::grubenv::{GrubEnv, GrubEnvError, MAX_TRIES};
use crate::slots::slot_status::SlotName;
use std::path::Path;

/// The next power-up tries `slot` once; `fallback` boots if it does not come up.
pub fn arm_trial(env: &mut GrubEnv, slot: SlotName) {
    env.set_ok(slot, true);
    // GRUB counts this boot before starting it: one attempt, then the fallback.
    env.set_tries(slot, MAX_TRIES - 1);
    env.set_order(slot);
}

/// `slot` is never chosen; `primary` boots first.
pub fn disarm(env: &mut GrubEnv, slot: SlotName, primary: SlotName) {
    env.set_ok(slot, false);
    env.set_tries(slot, 0);
    env.set_order(primary);
}

/// The booted slot came up healthy: bootable, attempts counted from zero. The order
/// is left alone (a slot armed for trial stays armed).
pub fn mark_good(env: &mut GrubEnv, slot: SlotName) {
    env.set_tries(slot, 0);
    if !env.ok(slot) {
        env.set_ok(slot, true);
    }
}

/// `slot` boots first from now on, with all its attempts.
pub fn mark_active(env: &mut GrubEnv, slot: SlotName) {
    env.set_order(slot);
    env.set_ok(slot, true);
    env.set_tries(slot, 0);
}

/// The trial slot is committed: it boots first with all its attempts, and the slot
/// it replaced is the fallback with all of its attempts again.
pub fn commit(env: &mut GrubEnv, slot: SlotName, fallback: SlotName) {
    mark_active(env, slot);
    env.set_tries(fallback, 0);
}

/// `slot` failed: never booted again until armed anew.
pub fn mark_bad(env: &mut GrubEnv, slot: SlotName) {
    env.set_ok(slot, false);
    env.set_tries(slot, 0);
}

/// `failed` is marked bad and `to` boots first again with all its attempts.
pub fn rollback(env: &mut GrubEnv, failed: SlotName, to: SlotName) {
    mark_bad(env, failed);
    env.set_order(to);
    env.set_tries(to, 0);
}

/// A fresh environment where `good` boots and the other slot never.
pub fn initial(good: SlotName) -> GrubEnv {
    GrubEnv::initial(good)
}

/// The environment on disk; `Ok(None)` when the file does not exist (GRUB's
/// defaults apply then), an error when it is damaged or unreadable.
pub fn load(path: &Path) -> Result<Option<GrubEnv>, GrubEnvError> {
    match GrubEnv::load(path) {
        Ok(e) => Ok(Some(e)),
        Err(GrubEnvError::Read { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// Writes the environment (the 1024-byte block, atomically).
pub fn save(env: &GrubEnv, path: &Path) -> Result<(), GrubEnvError> {
    env.save(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use SlotName::{A, B};

    fn start() -> GrubEnv {
        initial(A)
    }

    #[test]
    fn arm_trial_boots_the_slot_once_then_the_fallback() {
        let mut e = start();
        arm_trial(&mut e, B);
        assert!(e.ok(B));
        assert_eq!(e.order(), vec![B, A]);
        assert_eq!(e.select_boot(), B);
        assert_eq!(e.select_boot(), A, "the trial gets one attempt");
    }

    #[test]
    fn disarm_keeps_the_slot_from_booting() {
        let mut e = start();
        arm_trial(&mut e, B);
        disarm(&mut e, B, A);
        assert!(!e.ok(B));
        assert_eq!(e.tries(B), 0);
        assert_eq!(e.order(), vec![A, B]);
        assert_eq!(e.next_boot(), A);
    }

    #[test]
    fn mark_good_resets_attempts_and_keeps_the_order() {
        let mut e = start();
        arm_trial(&mut e, B);
        e.set_tries(A, 2);
        mark_good(&mut e, A);
        assert_eq!(e.tries(A), 0);
        assert_eq!(e.order(), vec![B, A], "an armed trial stays armed");
        assert_eq!(e.next_boot(), B);
    }

    #[test]
    fn mark_active_makes_the_slot_primary_with_all_attempts() {
        let mut e = start();
        arm_trial(&mut e, B);
        assert_eq!(e.select_boot(), B);
        mark_active(&mut e, B);
        assert_eq!(e.order(), vec![B, A]);
        assert!(e.ok(B));
        for _ in 0..MAX_TRIES {
            assert_eq!(e.select_boot(), B);
        }
        assert_eq!(e.select_boot(), A, "after MAX_TRIES failures the fallback");
    }

    #[test]
    fn commit_keeps_the_old_slot_as_a_fallback() {
        let mut e = start();
        e.set_tries(A, 1);
        arm_trial(&mut e, B);
        assert_eq!(e.select_boot(), B);
        commit(&mut e, B, A);
        assert_eq!(e.order(), vec![B, A]);
        assert_eq!((e.ok(B), e.tries(B)), (true, 0));
        assert_eq!((e.ok(A), e.tries(A)), (true, 0));
    }

    #[test]
    fn mark_bad_and_rollback_never_boot_the_failed_slot() {
        let mut e = start();
        arm_trial(&mut e, B);
        mark_bad(&mut e, B);
        assert!(!e.ok(B));
        assert_eq!(e.next_boot(), A);

        let mut e = start();
        arm_trial(&mut e, B);
        assert_eq!(e.select_boot(), B);
        e.set_tries(A, 2);
        rollback(&mut e, B, A);
        assert!(!e.ok(B));
        assert_eq!(e.order(), vec![A, B]);
        assert_eq!(e.tries(A), 0);
        assert_eq!(e.select_boot(), A);
        assert_eq!(e.select_boot(), A);
    }

    #[test]
    fn load_tells_missing_from_damaged() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("grubenv");
        assert_eq!(load(&p).unwrap(), None);
        std::fs::write(&p, b"junk").unwrap();
        assert!(load(&p).is_err());
        let mut e = start();
        arm_trial(&mut e, B);
        save(&e, &p).unwrap();
        assert_eq!(load(&p).unwrap(), Some(e));
    }
}
