"""Runs at image build time (python3 -m unittest): GitHub's ping and push payloads."""
import email.message
import json
import unittest

from function import handler


def make_event(kind, payload):
    class Event:
        pass
    event = Event()
    event.body = json.dumps(payload).encode()
    event.headers = email.message.Message()
    event.headers["X-GitHub-Event"] = kind
    event.verified_by = "github"
    return event


class GithubReceiverTest(unittest.TestCase):
    def test_ping_answers_pong_with_the_zen(self):
        self.assertEqual(handler.handle(make_event("ping", {"zen": "Speak like a human."}), None),
                         "pong: Speak like a human.\n")

    def test_push_names_the_repository_pusher_and_commit_count(self):
        payload = {"repository": {"full_name": "octo/hello"}, "pusher": {"name": "octocat"},
                   "commits": [{"id": "1"}, {"id": "2"}]}
        self.assertEqual(handler.handle(make_event("push", payload), None),
                         "push to octo/hello by octocat: 2 commit(s)\n")

    def test_an_unhandled_event_is_accepted_with_202(self):
        self.assertEqual(handler.handle(make_event("star", {}), None)["statusCode"], 202)


if __name__ == "__main__":
    unittest.main()
