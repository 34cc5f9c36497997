"""Fast tests of every faas-cli template and both examples, with no container.

Each function is built the way its image would be, but into folders on this machine: the
template is copied and the example's handler overlaid as `faas-cli build` does, then the
template's Dockerfile is followed (COPY, WORKDIR, ENV, the build steps and build-time tests;
the apt-get/useradd steps are skipped since the tools are already here). The real hmac-watchdog
is then started with exactly the image's ENV (plus the example's stack.yaml environment) and
its CMD, from its WORKDIR. Only what must differ on a shared machine is changed: secrets_path
(a temporary folder holding the secret), port=0 (the bound port is read from the log),
metrics_port and upstream_url's port (free ports), TMPDIR (a temporary folder for the lock).

    python3 template_test.py --watchdog BUILD/hmac-watchdog [unittest arguments]
"""
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

WATCHDOG = os.environ.get("HW_BINARY", "")
SANITIZER_VARIABLES = ("ASAN_OPTIONS", "UBSAN_OPTIONS", "TSAN_OPTIONS", "LSAN_OPTIONS")


class LocalFunction:
    """A function built by harness.LocalBuild and run under the real watchdog; a context
    manager that stops the watchdog (and with it the function) on exit."""

    def __init__(self, function, environment=None, secrets_dir=None):
        self.function = function
        self.extra_environment = dict(environment or {})
        self.secrets_dir = secrets_dir  # None: a new folder holding a random secret

    def __enter__(self):
        self.dir = tempfile.mkdtemp(prefix="hw-template-")
        context = harness.PrepareContext(self.function, os.path.join(self.dir, "context"))
        workspace = os.path.join(self.dir, "build")
        os.makedirs(workspace)
        self.build = harness.LocalBuild(context, workspace, WATCHDOG)
        stage = self.build.Build()
        self.stage = stage
        root = stage.root

        if self.secrets_dir:
            secrets = self.secrets_dir
            self.secret_file = os.path.join(secrets, self.function.secrets[0])
        else:
            secrets = os.path.join(self.dir, "secrets")
            self.secret_file = harness.WriteSecrets(secrets, self.function.secrets,
                                                    "local-test-secret-" + os.urandom(8).hex())
        self.wrong_secret_file = harness.WriteSecrets(os.path.join(self.dir, "wrong"),
                                                      self.function.secrets, "not-the-secret")
        tmp = os.path.join(self.dir, "tmp")
        os.makedirs(tmp)
        self.tmp = tmp

        image_path = ":".join(os.path.join(root, p.lstrip("/"))
                              for p in harness.DEBIAN_PATH.split(":")) + ":" + harness.DEBIAN_PATH
        env = {"PATH": image_path, "HOME": os.path.join(root, "home/app")}
        env.update({k: os.environ[k] for k in SANITIZER_VARIABLES if k in os.environ})
        env.update(stage.env)
        env["PATH"] = image_path
        env.update(self.function.environment)  # what faas-cli deploy sets from stack.yaml
        env.update(self.extra_environment)
        self.metrics_port = harness.FreePort()
        env.update(secrets_path=secrets, port="0", metrics_port=str(self.metrics_port),
                   TMPDIR=tmp)
        if "upstream_url" in env:
            url = urllib.parse.urlsplit(env["upstream_url"])
            env["upstream_url"] = url._replace(
                netloc="%s:%d" % (url.hostname, harness.FreePort())).geturl()
        self.env = env

        cmd = list(stage.cmd or [])
        if cmd != ["fwatchdog"]:
            raise AssertionError("CMD is %r, want [\"fwatchdog\"]" % cmd)
        binary = os.path.join(root, "usr/bin/fwatchdog")
        if not os.access(binary, os.X_OK):
            raise AssertionError("the Dockerfile put no executable /usr/bin/fwatchdog")
        self.log_path = os.path.join(self.dir, "watchdog.log")
        self.log = open(self.log_path, "wb")
        self.process = subprocess.Popen([binary] + cmd[1:], cwd=os.path.join(
            root, stage.workdir.lstrip("/")), env=env, stdin=subprocess.DEVNULL,
            stdout=self.log, stderr=subprocess.STDOUT)
        try:
            harness.WaitFor(lambda: self.process.poll() is not None or "ready:" in self.Log(),
                            30, "the watchdog's ready line")
            if self.process.poll() is not None:
                raise AssertionError("the watchdog exited with %s:\n%s" % (
                    self.process.returncode, self.Log()))
            self.port = int(re.search(r"listening on port (\d+)", self.Log()).group(1))
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def Log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def Metrics(self):
        status, body = harness.Get(self.metrics_port, "/metrics")
        return body.decode() if status == 200 else ""

    def __exit__(self, *exc):
        if self.process.poll() is None:
            # The first SIGTERM starts the health interval; a second one cuts it short.
            self.process.send_signal(signal.SIGTERM)
            time.sleep(0.1)
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()
        if not os.environ.get("HW_KEEP_TEMP"):
            subprocess.run(["rm", "-rf", self.dir], check=False)
        return False


class FunctionRunTestCase(unittest.TestCase):
    def RunExchange(self, function, environment=None, sign_scheme=None, sign_header=None):
        with LocalFunction(function, environment) as fn:
            exchange = harness.Exchange(function, WATCHDOG, fn.secret_file,
                                        fn.wrong_secret_file, sign_scheme, sign_header)
            problems = []
            if not os.path.exists(os.path.join(fn.tmp, ".lock")):
                problems.append("no lock file: the HEALTHCHECK would fail")
            try:
                problems += exchange.SendForged(fn.port)
                problems += exchange.SendSigned(fn.port)
                if not problems:
                    harness.WaitFor(lambda: exchange.SignedEventValue() in fn.Log(), 10,
                                    "the handler's log line for the signed request")
                    problems += exchange.CheckNeverRan(fn.Log(), fn.Metrics())
            except (OSError, AssertionError) as e:  # a dropped connection, a timeout
                problems.append("%s: %s" % (type(e).__name__, e))
            if problems:
                self.fail("%s:\n  %s\n--- build ran: %s\n--- build skipped: %s\n"
                          "--- watchdog log:\n%s" % (
                              function.name, "\n  ".join(problems), fn.build.ran,
                              fn.build.skipped, fn.Log()))


class TemplateRunTest(FunctionRunTestCase):
    """Each template, as `faas-cli new --lang` creates it, behind the real watchdog."""

    def test_bash_hmac_answers_a_signed_request_and_never_forks_for_a_forged_one(self):
        self.RunExchange(harness.TemplateFunction("bash-hmac"))

    def test_python3_http_hmac_answers_a_signed_request_and_never_forwards_a_forged_one(self):
        self.RunExchange(harness.TemplateFunction("python3-http-hmac"))

    def test_node_hmac_answers_a_signed_request_and_never_forwards_a_forged_one(self):
        self.RunExchange(harness.TemplateFunction("node-hmac"))

    def test_cpp_hmac_answers_a_signed_request_and_never_forks_for_a_forged_one(self):
        self.RunExchange(harness.TemplateFunction("cpp-hmac"))


class ExampleRunTest(FunctionRunTestCase):
    """Each example's stack.yaml: its template, its handler, its environment and secret."""

    def test_github_receiver_answers_a_signed_ping_and_refuses_a_forged_one(self):
        self.RunExchange(harness.ExampleFunction("github-receiver"))

    def test_github_receiver_accepts_what_faas_cli_invoke_sign_sends(self):
        # faas-cli invoke --sign X-Hub-Signature-256 sends "sha256=<hex HMAC-SHA256>".
        self.RunExchange(harness.ExampleFunction("github-receiver"), sign_scheme="faas-cli",
                         sign_header="X-Hub-Signature-256")

    def test_patreon_receiver_answers_a_signed_pledge_and_refuses_a_forged_one(self):
        self.RunExchange(harness.ExampleFunction("patreon-receiver"))

    def test_patreon_receiver_with_the_faas_cli_scheme_added_accepts_faas_cli_invoke_sign(self):
        # The redeploy its README documents for testing with faas-cli invoke --sign: no
        # hmac_header, the faas-cli scheme's own X-Hub-Signature-256.
        self.RunExchange(harness.ExampleFunction("patreon-receiver"),
                         environment={"hmac_scheme": "patreon,faas-cli"},
                         sign_scheme="faas-cli", sign_header="X-Hub-Signature-256")

    def test_patreon_receiver_with_the_faas_cli_scheme_added_still_accepts_patreon_deliveries(self):
        # Adding faas-cli for testing must not hide X-Patreon-Signature (issue 12).
        self.RunExchange(harness.ExampleFunction("patreon-receiver"),
                         environment={"hmac_scheme": "patreon,faas-cli"})


class LayoutTest(unittest.TestCase):
    """What faas-cli and the OpenFaaS conventions expect of the files themselves."""

    def test_faas_cli_finds_every_template_under_the_top_level_template_folder(self):
        # faas-cli template pull copies every folder under the repository's template/.
        link = os.path.join(harness.SOURCE_DIR, "template")
        self.assertTrue(os.path.islink(link), "template must be a symlink to templates/openfaas")
        self.assertEqual(os.readlink(link), "templates/openfaas")
        # Every folder faas-cli finds there is a template: nothing else may sit in it.
        self.assertEqual(sorted(n for n in os.listdir(link)
                                if os.path.isdir(os.path.join(link, n))),
                         sorted(harness.TEMPLATE_NAMES))
        for name in harness.TEMPLATE_NAMES:
            folder = os.path.join(link, name)
            for f in ("template.yml", "Dockerfile"):
                self.assertTrue(os.path.isfile(os.path.join(folder, f)), "%s/%s" % (name, f))
            meta = harness.ReadYaml(os.path.join(folder, "template.yml"))
            self.assertEqual(meta["language"], name)
            self.assertTrue(meta.get("welcome_message"), name)
            handler_folder = meta.get("handler_folder") or "function"
            self.assertTrue(os.path.isdir(os.path.join(folder, handler_folder)), name)
            self.assertEqual(meta["fprocess"], harness.TemplateEnv(name)["fprocess"],
                             "%s: template.yml and the Dockerfile disagree on fprocess" % name)

    def test_every_template_dockerfile_follows_the_openfaas_template_conventions(self):
        for name in harness.TEMPLATE_NAMES:
            path = os.path.join(harness.TEMPLATES_DIR, name, "Dockerfile")
            instructions = harness.ParseDockerfile(path)
            lines = ["%s %s" % (i.keyword, i.args) for i in instructions]
            with self.subTest(template=name):
                self.assertIn("ARG WATCHDOG_IMAGE=", "\n".join(lines))
                self.assertTrue(any(re.match(r"FROM .*\$\{WATCHDOG_IMAGE\} AS watchdog$", l)
                                    for l in lines), "FROM ${WATCHDOG_IMAGE} AS watchdog")
                self.assertIn("COPY --from=watchdog /fwatchdog /usr/bin/fwatchdog", lines)
                for arg in ("TARGETPLATFORM", "BUILDPLATFORM", "ADDITIONAL_PACKAGE"):
                    self.assertIn("ARG " + arg, lines)
                self.assertIn("USER app", lines)
                self.assertIn("HEALTHCHECK --interval=3s CMD [ -e /tmp/.lock ] || exit 1", lines)
                self.assertEqual(lines[-1], 'CMD ["fwatchdog"]')
                env = harness.TemplateEnv(name)
                for key in ("fprocess", "mode", "hmac_scheme"):
                    self.assertIn(key, env)
                if env["mode"] == "http":
                    self.assertRegex(env["upstream_url"], r"^http://127\.0\.0\.1:\d+$")
                self.assertTrue(any(l.startswith("COPY") and " function/" in l for l in lines),
                                "the handler folder is copied into the image")

    def test_every_example_uses_a_template_of_this_repository_and_mounts_its_secret(self):
        for example in harness.EXAMPLE_NAMES:
            with self.subTest(example=example):
                function = harness.ExampleFunction(example)
                self.assertIn(function.lang, harness.TEMPLATE_NAMES)
                self.assertTrue(os.path.isdir(function.handler_dir))
                self.assertIn(function.environment.get("hmac_secret", "webhook-secret"),
                              function.secrets)
                self.assertIn("hmac_scheme", function.environment)
                with open(os.path.join(harness.EXAMPLES_DIR, example, "README.md")) as f:
                    text = f.read()
                self.assertIn("faas-cli secret create webhook-secret", text)
                self.assertIn("faas-cli invoke", text)
                self.assertIn("--sign", text)


def main():
    global WATCHDOG
    args = sys.argv[1:]
    if args[:1] == ["--watchdog"]:
        WATCHDOG = args[1]
        args = args[2:]
    if not WATCHDOG or not os.access(WATCHDOG, os.X_OK):
        sys.exit("usage: template_test.py --watchdog PATH/hmac-watchdog [unittest args]")
    WATCHDOG = os.path.abspath(WATCHDOG)
    unittest.main(argv=[sys.argv[0]] + args, verbosity=2)


if __name__ == "__main__":
    main()
