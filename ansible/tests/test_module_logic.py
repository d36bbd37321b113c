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


if __name__ == "__main__":
    unittest.main()
