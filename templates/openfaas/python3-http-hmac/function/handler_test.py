"""Runs at image build time (python3 -m unittest): calls handle() as index.py would."""
import email.message
import unittest

from function import handler


class FakeEvent:
    def __init__(self, body, headers):
        self.body = body
        self.headers = email.message.Message()
        for name, value in headers.items():
            self.headers[name] = value
        self.verified_by = self.headers.get("X-Webhook-Verified", "")
        self.method, self.path, self.query = "POST", "/", {}


class HandlerTest(unittest.TestCase):
    def test_handler_answers_with_the_event_type_and_the_verifying_scheme(self):
        event = FakeEvent(b'{"zen":"hi"}',
                          {"x-github-event": "ping", "X-Webhook-Verified": "github"})
        result = handler.handle(event, None)
        self.assertEqual(result["statusCode"], 200)
        self.assertEqual(result["body"], b'event=ping verified=github\n{"zen":"hi"}\n')


if __name__ == "__main__":
    unittest.main()
