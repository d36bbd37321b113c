"""The module's pure logic: how far an upgrade got, from journal records (run by
tests/integration/ansible_fleet.rs, or `python3 -m unittest` in this folder)."""
import importlib.util
import os
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location(
    "upgrade_console",
    os.path.join(HERE, "../ansible_collections/appliance/upgrade_console/plugins/modules/upgrade_console.py"),
)
uc = importlib.util.module_from_spec(spec)
spec.loader.exec_module(uc)
spec = importlib.util.spec_from_file_location(
    "ha_pair",
    os.path.join(HERE, "../ansible_collections/appliance/upgrade_console/plugins/modules/ha_pair.py"),
)
ha = importlib.util.module_from_spec(spec)
spec.loader.exec_module(ha)

V = {"event": "verified", "iso_sha256": "i1", "payload_sha256": "p1", "version": "7.3.1"}
C = {"event": "check-passed", "payload_sha256": "p1", "version": "7.3.1"}
A = {"event": "activated", "target": {"sha256": "p1", "version": "7.3.1"}}
OK = {"event": "committed", "sha256": "p1", "version": "7.3.1"}
BACK = {"event": "rolled-back", "slot": "B", "to": "A", "reason": "phase 1"}


class Reached(unittest.TestCase):
    def test_nothing_for_another_image(self):
        self.assertEqual(uc.reached([V, C], "other", "7.0.1")[0], -1)

    def test_the_ladder(self):
        self.assertEqual(uc.reached([V], "i1", "7.0.1")[0], 0)
        self.assertEqual(uc.reached([V, C], "i1", "7.0.1")[0], 1)
        self.assertEqual(uc.reached([V, C, A], "i1", "7.0.1")[0], 2)
        self.assertEqual(uc.reached([V, C, A, OK], "i1", "7.3.1")[0], 4)

    def test_committed_but_not_running_it_is_not_done(self):
        self.assertLess(uc.reached([V, C, A, OK], "i1", "7.0.1")[0], 4)

    def test_a_rollback_sends_it_back_to_checked(self):
        self.assertEqual(uc.reached([V, C, A, BACK], "i1", "7.0.1")[0], 1)
        # and a new activation after it counts again
        self.assertEqual(uc.reached([V, C, A, BACK, A], "i1", "7.0.1")[0], 2)

    def test_journal_lines(self):
        import tempfile
        with tempfile.NamedTemporaryFile("w", delete=False) as f:
            f.write('1 abc {"event": "verified", "iso_sha256": "i1"}\n2 def {torn')
        try:
            self.assertEqual(uc.read_journal(f.name), [{"event": "verified", "iso_sha256": "i1"}])
        finally:
            os.unlink(f.name)
        self.assertEqual(uc.read_journal("/nonexistent/journal.log"), [])


def node(current, after=None, role="primary"):
    return {"role": role, "current": current, "after_reboot": after or current}


def pair(this, other, upgrade=None, next_step=None):
    return {"schema": 1, "this_node": this, "other_node": other, "upgrade": upgrade,
            "next_step": next_step, "other_node_error": None if other else "no answer"}


def up(iso="i1", done=10, abandoned=False, version="7.3.1"):
    return {"version": version, "iso_sha256": iso, "done": ["s%d" % i for i in range(done)],
            "stopped": None, "abandoned": abandoned}


class HaDecide(unittest.TestCase):
    OLD = node("7.0.1")

    def test_a_fresh_pair_starts(self):
        s = pair(self.OLD, node("7.0.1", role="secondary"))
        self.assertEqual(ha.decide(s, "i1", None)[0], "start")
        self.assertEqual(ha.decide(s, "i1", "7.3.1")[:2], ("start", "7.3.1"))

    def test_both_on_the_version_does_nothing(self):
        new = pair(node("7.3.1", role="secondary"), node("7.3.1"), up(), None)
        self.assertEqual(ha.decide(new, "i1", None)[:2], ("none", "7.3.1"))
        # without a record of the procedure, the journal's verify gives the version
        bare = pair(node("7.3.1"), node("7.3.1", role="secondary"))
        self.assertEqual(ha.decide(bare, "i1", "7.3.1")[0], "none")
        self.assertEqual(ha.decide(bare, "i1", None)[0], "start")

    def test_armed_but_not_running_is_not_done(self):
        s = pair(node("7.0.1", "7.3.1"), node("7.3.1"), up(done=5), "reboot-primary")
        self.assertEqual(ha.decide(s, "i1", "7.3.1")[0], "resume")
        # the other node unreachable is not done either
        s = pair(node("7.3.1"), None, up(done=7), "secondary-synced")
        self.assertEqual(ha.decide(s, "i1", None)[0], "resume")

    def test_an_upgrade_of_the_same_image_under_way_is_resumed(self):
        s = pair(self.OLD, node("7.0.1", role="secondary"), up(done=2), "secondary-off")
        self.assertEqual(ha.decide(s, "i1", None)[0], "resume")
        self.assertEqual(ha.decide(s, None, None)[0], "resume")

    def test_another_image_or_an_abandoned_one_starts_afresh(self):
        s = pair(self.OLD, node("7.0.1", role="secondary"), up(done=2), "secondary-off")
        self.assertEqual(ha.decide(s, "i2", None)[0], "start")
        s = pair(self.OLD, node("7.0.1", role="secondary"), up(done=2, abandoned=True), None)
        self.assertEqual(ha.decide(s, "i1", None)[0], "start")

    def test_finished_but_not_equal_fails_and_no_image_nothing_under_way_fails(self):
        s = pair(node("7.3.1"), node("7.0.1", role="secondary"), up(), None)
        action, _, why = ha.decide(s, "i1", None)
        self.assertEqual(action, "fail")
        self.assertIn("7.0.1", why)
        self.assertEqual(ha.decide(pair(self.OLD, self.OLD), None, None)[0], "fail")

    def test_the_command(self):
        base = ["uc", "--root", "/r", "--json"]
        self.assertEqual(ha.command(base, "start", "/i.iso", None),
                         base + ["ha", "upgrade", "/i.iso", "--yes"])
        self.assertEqual(ha.command(base, "start", "/i.iso", "ab"),
                         base + ["ha", "upgrade", "/i.iso", "--sha256", "ab", "--yes"])
        self.assertEqual(ha.command(base, "resume", "/i.iso", "ab"),
                         base + ["ha", "upgrade", "--yes"])

    def test_the_error_message(self):
        self.assertEqual(ha.error_of({"error": "step x stopped: why"}, "x"), "step x stopped: why")
        self.assertEqual(ha.error_of(None, '{"step": 1}\nupgrade-console: ha: no\n'),
                         "upgrade-console: ha: no")

    def test_journal_version(self):
        import tempfile
        with tempfile.NamedTemporaryFile("w", delete=False) as f:
            f.write('1 a {"event": "verified", "iso_sha256": "i1", "version": "7.3.1"}\n'
                    '2 b {"event": "verified", "iso_sha256": "i2", "version": "7.4.0"}\n3 c {torn')
        try:
            self.assertEqual(ha.journal_version(f.name, "i1"), "7.3.1")
            self.assertIsNone(ha.journal_version(f.name, "i3"))
        finally:
            os.unlink(f.name)
        self.assertIsNone(ha.journal_version("/nonexistent/journal.log", "i1"))


if __name__ == "__main__":
    unittest.main()
