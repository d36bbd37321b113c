//! Every key the console knows, defined once: where it works, what it does, how the
//! hint bar labels it and the help line that explains it. The handler (`App::key`)
//! turns a key into an [`Action`] through [`action`], the screens build their hint
//! bars with [`hint`], and the help screen is drawn from [`ROWS`], so rebinding a key
//! here changes all three.

use crate::tui::app::{Screen, Step};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// Where a binding applies. The handler asks in this order: chords, then hash entry
/// or a confirmation (which take every other key), then the global keys, then the
/// screen's and the wizard step's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ctx {
    /// Control chords that work everywhere, even while typing.
    Chord,
    /// Typing the expected SHA-256 in the image step.
    HashEntry,
    /// A yes/no question is on screen.
    Confirm,
    /// Every screen.
    Global,
    Status,
    Logs,
    Help,
    Recovery,
    /// The HA pair screen.
    Ha,
    /// Every wizard step.
    Wizard,
    /// One wizard step.
    Step(Step),
}

/// What a key asks for; `App::act` carries each out (an exhaustive match, so a new
/// action cannot be left unhandled).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Repaint,
    Quit,
    Show(Screen),
    NextScreen,
    PrevScreen,
    Refresh,
    StepNext,
    StepBack,
    Down,
    Up,
    Tick,
    EditHash,
    Rescan,
    /// Run the step: verify, or the upgrade test.
    Run,
    Bundle,
    Activate,
    Reboot,
    Recover,
    Yes,
    No,
    HashAccept,
    HashCancel,
    HashClear,
    HashDelete,
    HashType,
    LogFollow,
    HelpBack,
    /// The HA screen: the next step of the pair's upgrade.
    HaNext,
    /// The HA screen: bring the pair back after the primary rolled back.
    HaRestore,
}

/// A key as bound: plain characters need no Control, chords need it, named keys
/// match whatever the modifiers (Shift-Tab arrives as BackTab with Shift).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    Char(char),
    Ctrl(char),
    Code(KeyCode),
    /// Any printable character (text entry).
    AnyChar,
}

impl Key {
    pub fn matches(self, k: &KeyEvent) -> bool {
        let ctrl = k.modifiers.contains(KeyModifiers::CONTROL);
        match (self, k.code) {
            (Key::Char(c), KeyCode::Char(x)) => !ctrl && c == x,
            (Key::Ctrl(c), KeyCode::Char(x)) => ctrl && c.eq_ignore_ascii_case(&x),
            (Key::Code(c), code) => c == code,
            (Key::AnyChar, KeyCode::Char(_)) => !ctrl,
            _ => false,
        }
    }

    /// A key event that [`Key::matches`] this key (for tests and synthetic presses).
    pub fn event(self) -> KeyEvent {
        match self {
            Key::Char(c) => KeyEvent::from(KeyCode::Char(c)),
            Key::Ctrl(c) => KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL),
            Key::Code(c) => KeyEvent::from(c),
            Key::AnyChar => KeyEvent::from(KeyCode::Char('0')),
        }
    }
}

/// One key in one context, and its label on the hint bar when it has one.
#[derive(Debug, Clone, Copy)]
pub struct Bind {
    pub ctx: Ctx,
    pub key: Key,
    pub action: Action,
    pub hint: Option<&'static str>,
}

/// One help line and the bindings it explains.
#[derive(Debug, Clone, Copy)]
pub struct Row {
    pub group: &'static str,
    pub keys: &'static str,
    pub what: &'static str,
    pub binds: &'static [Bind],
}

const fn b(ctx: Ctx, key: Key, action: Action, hint: Option<&'static str>) -> Bind {
    Bind {
        ctx,
        key,
        action,
        hint,
    }
}

use Action as A;
use Ctx as C;
use Key as K;

const UP_DOWN: Option<&str> = Some("Up/Down");

/// The whole table, in the order the help screen shows it.
pub const ROWS: &[Row] = &[
    Row {
        group: "Anywhere",
        keys: "1..6",
        what: "status, upgrade, recovery, logs, cluster, HA",
        binds: &[
            b(C::Global, K::Char('1'), A::Show(Screen::Status), Some("1")),
            b(C::Global, K::Char('2'), A::Show(Screen::Wizard), Some("2")),
            b(
                C::Global,
                K::Char('3'),
                A::Show(Screen::Recovery),
                Some("3"),
            ),
            b(C::Global, K::Char('4'), A::Show(Screen::Logs), Some("4")),
            b(C::Global, K::Char('5'), A::Show(Screen::Cluster), Some("5")),
            b(C::Global, K::Char('6'), A::Show(Screen::Ha), Some("6")),
        ],
    },
    Row {
        group: "Anywhere",
        keys: "Tab / Shift-Tab",
        what: "next / previous screen",
        binds: &[
            b(C::Global, K::Code(KeyCode::Tab), A::NextScreen, None),
            b(C::Global, K::Code(KeyCode::BackTab), A::PrevScreen, None),
        ],
    },
    Row {
        group: "Anywhere",
        keys: "?, F1 / Ctrl-L",
        what: "this help / repaint the whole screen",
        binds: &[
            b(C::Global, K::Char('?'), A::Show(Screen::Help), Some("?")),
            b(
                C::Global,
                K::Code(KeyCode::F(1)),
                A::Show(Screen::Help),
                None,
            ),
            b(C::Chord, K::Ctrl('l'), A::Repaint, None),
        ],
    },
    Row {
        group: "Anywhere",
        keys: "q, F10 or Ctrl-C",
        what: "quit (work already started goes on)",
        binds: &[
            b(C::Global, K::Char('q'), A::Quit, Some("q")),
            b(C::Global, K::Code(KeyCode::F(10)), A::Quit, None),
            b(C::Chord, K::Ctrl('c'), A::Quit, None),
        ],
    },
    Row {
        group: "Status, HA",
        keys: "r",
        what: "refresh",
        binds: &[
            b(C::Status, K::Char('r'), A::Refresh, Some("r")),
            b(C::Ha, K::Char('r'), A::Refresh, Some("r")),
        ],
    },
    Row {
        group: "HA pair",
        keys: "n / R",
        what: "next step (asks first) / restore after rollback",
        binds: &[
            b(C::Ha, K::Char('n'), A::HaNext, Some("n")),
            b(C::Ha, K::Char('R'), A::HaRestore, Some("R")),
        ],
    },
    Row {
        group: "Upgrade",
        keys: "n / p",
        what: "next step / previous step",
        binds: &[
            b(C::Wizard, K::Char('n'), A::StepNext, Some("n")),
            b(C::Wizard, K::Char('p'), A::StepBack, Some("p")),
        ],
    },
    Row {
        group: "Upgrade",
        keys: "Up/Down or k/j",
        what: "move in a list, scroll findings",
        binds: &[
            b(
                C::Step(Step::Prerequisites),
                K::Code(KeyCode::Down),
                A::Down,
                UP_DOWN,
            ),
            b(C::Step(Step::Prerequisites), K::Char('j'), A::Down, None),
            b(
                C::Step(Step::Prerequisites),
                K::Code(KeyCode::Up),
                A::Up,
                None,
            ),
            b(C::Step(Step::Prerequisites), K::Char('k'), A::Up, None),
            b(
                C::Step(Step::Image),
                K::Code(KeyCode::Down),
                A::Down,
                UP_DOWN,
            ),
            b(C::Step(Step::Image), K::Char('j'), A::Down, None),
            b(C::Step(Step::Image), K::Code(KeyCode::Up), A::Up, None),
            b(C::Step(Step::Image), K::Char('k'), A::Up, None),
            b(
                C::Step(Step::Check),
                K::Code(KeyCode::Down),
                A::Down,
                UP_DOWN,
            ),
            b(C::Step(Step::Check), K::Char('j'), A::Down, None),
            b(C::Step(Step::Check), K::Code(KeyCode::Up), A::Up, None),
            b(C::Step(Step::Check), K::Char('k'), A::Up, None),
        ],
    },
    Row {
        group: "Upgrade",
        keys: "Space or x",
        what: "tick or untick the prerequisite under the cursor",
        binds: &[
            b(
                C::Step(Step::Prerequisites),
                K::Char(' '),
                A::Tick,
                Some("Space"),
            ),
            b(C::Step(Step::Prerequisites), K::Char('x'), A::Tick, None),
        ],
    },
    Row {
        group: "Upgrade",
        keys: "e / r",
        what: "type or paste the SHA-256 / rescan the images",
        binds: &[
            b(C::Step(Step::Image), K::Char('e'), A::EditHash, Some("e")),
            b(C::Step(Step::Image), K::Char('r'), A::Rescan, Some("r")),
        ],
    },
    Row {
        group: "Upgrade",
        keys: "Enter",
        what: "run the step: verify, test, next...",
        binds: &[
            b(
                C::Step(Step::Image),
                K::Code(KeyCode::Enter),
                A::StepNext,
                None,
            ),
            b(
                C::Step(Step::Verify),
                K::Code(KeyCode::Enter),
                A::Run,
                Some("Enter"),
            ),
            b(C::Step(Step::Verify), K::Char('v'), A::Run, None),
            b(
                C::Step(Step::Check),
                K::Code(KeyCode::Enter),
                A::Run,
                Some("Enter"),
            ),
            b(C::Step(Step::Check), K::Char('t'), A::Run, None),
            b(C::Step(Step::Check), K::Char('r'), A::Run, None),
            b(
                C::Step(Step::Bundle),
                K::Code(KeyCode::Enter),
                A::Bundle,
                None,
            ),
            b(
                C::Step(Step::Activate),
                K::Code(KeyCode::Enter),
                A::Activate,
                None,
            ),
            b(
                C::Step(Step::Reboot),
                K::Code(KeyCode::Enter),
                A::Reboot,
                None,
            ),
        ],
    },
    Row {
        group: "Upgrade",
        keys: "b / a / r",
        what: "support bundle / activate / reboot (a, r ask)",
        binds: &[
            b(C::Step(Step::Bundle), K::Char('b'), A::Bundle, Some("b")),
            b(
                C::Step(Step::VersionCheck),
                K::Char('b'),
                A::Bundle,
                Some("b"),
            ),
            b(
                C::Step(Step::Activate),
                K::Char('a'),
                A::Activate,
                Some("a"),
            ),
            b(C::Step(Step::Reboot), K::Char('r'), A::Reboot, Some("r")),
        ],
    },
    Row {
        group: "Upgrade",
        keys: "y / n or Esc",
        what: "answer a confirmation",
        binds: &[
            b(C::Confirm, K::Char('y'), A::Yes, Some("y")),
            b(C::Confirm, K::Char('Y'), A::Yes, None),
            b(C::Confirm, K::Char('n'), A::No, Some("n")),
            b(C::Confirm, K::Code(KeyCode::Esc), A::No, None),
        ],
    },
    Row {
        group: "Hash entry",
        keys: "Enter/Esc/Ctrl-U",
        what: "accept (or new line) / cancel / clear",
        binds: &[
            b(
                C::HashEntry,
                K::Code(KeyCode::Enter),
                A::HashAccept,
                Some("Enter"),
            ),
            b(
                C::HashEntry,
                K::Code(KeyCode::Esc),
                A::HashCancel,
                Some("Esc"),
            ),
            b(C::HashEntry, K::Ctrl('u'), A::HashClear, Some("^U")),
            b(
                C::HashEntry,
                K::Code(KeyCode::Backspace),
                A::HashDelete,
                None,
            ),
            b(C::HashEntry, K::AnyChar, A::HashType, None),
        ],
    },
    Row {
        group: "Recovery",
        keys: "R",
        what: "enter recovery mode on request (asks first)",
        binds: &[b(C::Recovery, K::Char('R'), A::Recover, Some("R"))],
    },
    Row {
        group: "Logs",
        keys: "PgUp/PgDn, End",
        what: "scroll, follow the end",
        binds: &[
            b(C::Logs, K::Code(KeyCode::PageUp), A::Up, None),
            b(C::Logs, K::Code(KeyCode::Up), A::Up, None),
            b(C::Logs, K::Char('k'), A::Up, None),
            b(
                C::Logs,
                K::Code(KeyCode::PageDown),
                A::Down,
                Some("PgUp/PgDn"),
            ),
            b(C::Logs, K::Code(KeyCode::Down), A::Down, None),
            b(C::Logs, K::Char('j'), A::Down, None),
            b(C::Logs, K::Code(KeyCode::End), A::LogFollow, Some("End")),
            b(C::Logs, K::Code(KeyCode::Esc), A::LogFollow, None),
        ],
    },
    Row {
        group: "Help",
        keys: "Up/Down, Esc",
        what: "scroll, back to status",
        binds: &[
            b(C::Help, K::Code(KeyCode::Down), A::Down, UP_DOWN),
            b(C::Help, K::Char('j'), A::Down, None),
            b(C::Help, K::Code(KeyCode::Up), A::Up, None),
            b(C::Help, K::Char('k'), A::Up, None),
            b(C::Help, K::Code(KeyCode::Esc), A::HelpBack, Some("Esc")),
        ],
    },
];

/// Every binding of the table.
pub fn binds() -> impl Iterator<Item = &'static Bind> {
    ROWS.iter().flat_map(|r| r.binds.iter())
}

/// The action `k` asks for in the first of `ctxs` that binds it.
pub fn action(ctxs: &[Ctx], k: &KeyEvent) -> Option<Action> {
    ctxs.iter().find_map(|c| {
        binds()
            .find(|b| b.ctx == *c && b.key.matches(k))
            .map(|b| b.action)
    })
}

/// A hint-bar entry for `action` in `ctx`: its key label from the table and what it
/// does here (the text may depend on the step's state: "verify", "retry"...). A pair
/// the table does not label gives no entry.
pub fn hint(ctx: Ctx, action: Action, text: &'static str) -> Option<(&'static str, &'static str)> {
    binds()
        .find(|b| b.ctx == ctx && b.action == action && b.hint.is_some())
        .and_then(|b| b.hint)
        .map(|label| (label, text))
}

/// Hint-bar entries from (context, action, text) triples, in order.
pub fn hints(items: &[(Ctx, Action, &'static str)]) -> Vec<(&'static str, &'static str)> {
    items
        .iter()
        .filter_map(|(c, a, t)| hint(*c, *a, t))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_binding_is_found_by_its_own_key_in_its_context() {
        for b in binds() {
            assert_eq!(
                action(&[b.ctx], &b.key.event()),
                Some(b.action),
                "{b:?} is shadowed by another binding in the same context"
            );
        }
    }

    #[test]
    fn no_two_bindings_of_a_context_share_a_key() {
        let all: Vec<&Bind> = binds().collect();
        for (i, x) in all.iter().enumerate() {
            for y in &all[i + 1..] {
                if x.ctx == y.ctx && x.key != Key::AnyChar && y.key != Key::AnyChar {
                    assert!(
                        !(x.key.matches(&y.key.event())),
                        "{x:?} and {y:?} share a key"
                    );
                }
            }
        }
    }

    /// Global keys are looked up before a screen's: a screen or step binding on a
    /// global key would never fire.
    #[test]
    fn no_screen_binding_is_hidden_by_a_global_key() {
        for b in binds().filter(|b| {
            !matches!(
                b.ctx,
                Ctx::Chord | Ctx::Global | Ctx::HashEntry | Ctx::Confirm
            )
        }) {
            assert_eq!(
                action(&[Ctx::Chord, Ctx::Global], &b.key.event()),
                None,
                "{b:?} is hidden by a global key"
            );
        }
    }

    #[test]
    fn help_lists_every_global_key_under_anywhere() {
        for r in ROWS {
            for b in r.binds {
                if matches!(b.ctx, Ctx::Chord | Ctx::Global) {
                    assert_eq!(r.group, "Anywhere", "{b:?} is explained under {}", r.group);
                }
            }
        }
    }
}
