"""Runs every command line printed in the README, templates/README.md and the examples'
READMEs, exactly as printed (read from the Markdown, never retyped), with the real faas-cli.

The convention, in the Markdown:
- a fenced block tagged `sh` is run: its commands, in order, in one bash session per file
  that starts in an empty folder (a user's new project folder);
- a block tagged `sh no-run` is not run (it needs Docker, a registry or a cluster, which a CI
  machine does not have); its commands are counted as skipped;
- a comment line `# -> TEXT` after a command (or at the end of its last line) is what it
  must print: `# -> 401 ...` means it must fail with 401 in its output; any other TEXT (up
  to two spaces in a row) must be in its output; a command with no `# ->` must exit 0;
- a `yaml` block holding `functions:` is a whole stack file: `faas-cli deploy -f` must accept
  it as printed, and its image names must be lower case;
- a block tagged anything else that runs commands (`bash`, `shell`, `console`) is an error:
  tag it `sh` or `sh no-run`.

What the sessions have: `faas-cli` (the real one, from ../shared/peers) and `hmac-watchdog`
(the binary under test) on PATH; https://github.com/hmac-watchdog/hmac-watchdog redirected
by git's `insteadOf` to a git copy of the working tree; OPENFAAS_URL pointing at a stand-in
gateway (below) that keeps secrets (`faas-cli secret create`), records deployments
(`faas-cli deploy`: the function's environment) and answers /function/NAME by running the
function on this machine behind the real watchdog, built from its template as the template
tests do (an example's name runs that example; any other name the python3-http-hmac
template). Skipped, with a message, when faas-cli is not there.

    python3 tests/interop/docs_test.py BUILD/hmac-watchdog
"""
import http.client
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import faas_cli  # noqa: E402
from faas_cli import harness, template_test  # noqa: E402

NAME = "docs_test"
DOCUMENTS = ["README.md", "templates/README.md", "templates/examples/github-receiver/README.md",
             "templates/examples/patreon-receiver/README.md"]
SHELL_TAGS = ("bash", "shell", "console", "shell-session", "zsh")


# --- Reading the Markdown ------------------------------------------------------------------------

class Command:
    def __init__(self, text, line):
        self.text = text      # as printed, continuation lines included
        self.line = line      # line number of its first line in the document
        self.expect = None    # the text of its "# -> " comment, if any


def Blocks(path):
    """(info string, first line number, lines) of every fenced block of a Markdown file."""
    blocks, current = [], None
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if current is None:
                m = re.match(r"^(`{3,}|~{3,})\s*(.*)$", line)
                if m:
                    current = (m.group(1), m.group(2).strip(), number + 1, [])
            elif line.startswith(current[0]) and not line.strip(current[0][0]).strip():
                blocks.append(current[1:])
                current = None
            else:
                current[3].append(line)
    if current is not None:
        raise ValueError("%s: block opened at line %d is never closed" % (path, current[2] - 1))
    return blocks


_EXPECT = re.compile(r"(?:^|\s)# -> (.*)$")


def Commands(lines, first_line):
    """The commands of a sh block: continuation lines (ending in \\, | or &&) joined."""
    commands, pending = [], None
    for offset, line in enumerate(lines):
        stripped = line.strip()
        if pending is None:
            if not stripped:
                continue
            if stripped.startswith("#"):
                m = _EXPECT.match(stripped)
                if m and commands and commands[-1].expect is None:
                    commands[-1].expect = m.group(1)
                continue
            pending = Command(line, first_line + offset)
        else:
            pending.text += "\n" + line
        if re.search(r"(\\|\||&&)\s*$", stripped):
            continue
        m = _EXPECT.search(line)
        if m:
            pending.expect = m.group(1)
        commands.append(pending)
        pending = None
    if pending is not None:
        commands.append(pending)
    return commands


# --- The stand-in gateway ------------------------------------------------------------------------

class Gateway:
    """Enough of the OpenFaaS gateway's API for faas-cli: secrets, deploy, /function/NAME."""

    def __init__(self, work):
        self.work = work
        self.lock = threading.Lock()
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._Handler())
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.Reset()

    def Reset(self):
        with self.lock:
            self._StopAll()
            self.secrets_dir = tempfile.mkdtemp(prefix="secrets-", dir=self.work)
            self.deployed = {}   # name -> environment from faas-cli deploy
            self.running = {}    # name -> template_test.LocalFunction
            self.log = []        # what the gateway was asked, for failure messages

    def Close(self):
        with self.lock:
            self._StopAll()
        self.server.shutdown()

    def _StopAll(self):
        for fn in getattr(self, "running", {}).values():
            fn.__exit__(None, None, None)
        self.running = {}

    def _Function(self, name):
        if name in harness.EXAMPLE_NAMES:
            function = harness.ExampleFunction(name)
        else:
            function = harness.TemplateFunction("python3-http-hmac")
            function.name = name
        if name in self.deployed:
            function.environment = dict(self.deployed[name])
        return function

    def _Started(self, name):
        """The running LocalFunction for name, started on first use (lock held)."""
        if name not in self.running:
            fn = template_test.LocalFunction(self._Function(name), secrets_dir=self.secrets_dir)
            fn.__enter__()
            self.running[name] = fn
        return self.running[name]

    def _Handler(gateway):
        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _reply(self, status, body=b"", headers=None):
                self.send_response(status)
                for k, v in (headers or {}).items():
                    if k.lower() not in ("content-length", "transfer-encoding", "connection"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _json(self, status, value):
                self._reply(status, json.dumps(value).encode(),
                            {"Content-Type": "application/json"})

            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                path = self.path.split("?")[0]
                gateway.log.append("%s %s" % (self.command, self.path))
                if path == "/system/info":
                    return self._json(200, {"provider": {"provider": "docs-test-gateway",
                                                         "orchestration": "local"},
                                            "version": {"release": "0.0.0"}})
                if path == "/system/secrets":
                    if self.command == "GET":
                        with gateway.lock:
                            names = sorted(os.listdir(gateway.secrets_dir))
                        return self._json(200, [{"name": n} for n in names])
                    if self.command in ("POST", "PUT"):
                        secret = json.loads(body)
                        name = secret["name"]
                        if "/" in name or name.startswith("."):
                            return self._reply(400, b"bad secret name")
                        value = secret.get("value")
                        data = value.encode() if value is not None else __import__(
                            "base64").b64decode(secret.get("rawValue") or "")
                        with gateway.lock:
                            with open(os.path.join(gateway.secrets_dir, name), "wb") as f:
                                f.write(data)
                            gateway._StopAll()  # restarted with the new secret on next use
                        return self._reply(201 if self.command == "POST" else 200)
                if path == "/system/functions":
                    if self.command == "GET":
                        return self._json(200, [{"name": n, "replicas": 1} for n in
                                                sorted(gateway.deployed)])
                    if self.command in ("POST", "PUT"):
                        spec = json.loads(body)
                        with gateway.lock:
                            gateway.deployed[spec["service"]] = spec.get("envVars") or {}
                            old = gateway.running.pop(spec["service"], None)
                            if old:
                                old.__exit__(None, None, None)
                        return self._reply(202)
                m = re.match(r"^/function/([a-z0-9-]+)(?:\.[a-z0-9-]+)?(/.*)?$", path)
                if m:
                    name, rest = m.group(1), m.group(2) or "/"
                    try:
                        with gateway.lock:
                            port = gateway._Started(name).port
                    except (AssertionError, ValueError, OSError) as e:
                        return self._reply(502, ("could not start %s: %s" % (name, e)).encode())
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                    try:
                        headers = {k: v for k, v in self.headers.items()
                                   if k.lower() not in ("host", "content-length", "connection")}
                        conn.request(self.command, rest + (
                            "?" + self.path.split("?", 1)[1] if "?" in self.path else ""),
                            body=body, headers=headers)
                        resp = conn.getresponse()
                        return self._reply(resp.status, resp.read(), dict(resp.getheaders()))
                    finally:
                        conn.close()
                return self._reply(404, b"not found in the docs test gateway\n")

            do_GET = do_POST = do_PUT = do_DELETE = _handle

        return Handler


# --- Running a document --------------------------------------------------------------------------

def RunDocument(doc, blocks, env, gateway, work, results):
    """Runs the sh blocks of one document in one bash session; appends to results."""
    session = tempfile.mkdtemp(prefix="session-", dir=work)
    outputs = os.path.join(work, "out-" + os.path.basename(session))
    os.makedirs(outputs)
    commands = []
    for info, first, lines in blocks:
        words = info.split()
        if words[:1] == ["sh"] and words[1:] == []:
            commands += Commands(lines, first)
    script = ["set -o pipefail"]
    for i, c in enumerate(commands):
        script.append("{ %s\n} >%s/%d.out 2>&1 </dev/null" % (c.text, outputs, i))
        script.append("echo $? >%s/%d.rc" % (outputs, i))
    gateway.Reset()
    try:
        subprocess.run(["bash", "-c", "\n".join(script)], cwd=session, env=env,
                       stdin=subprocess.DEVNULL, timeout=400, check=False)
    except subprocess.TimeoutExpired:
        pass
    for i, c in enumerate(commands):
        rc_file, out_file = ("%s/%d.%s" % (outputs, i, ext) for ext in ("rc", "out"))
        rc = int(open(rc_file).read()) if os.path.exists(rc_file) else None
        out = open(out_file, errors="replace").read() if os.path.exists(out_file) else ""
        problem = None
        expect = (c.expect or "").split("  ")[0].strip()
        if rc is None:
            problem = "did not run (the session stopped or timed out before it)"
        elif re.match(r"^\d{3}\b", expect):
            if rc == 0 or expect[:3] not in out:
                problem = "want a failure with %s, got exit %d" % (expect[:3], rc)
        elif rc != 0:
            problem = "exit %d" % rc
        elif expect and expect not in out:
            problem = "output lacks %r" % expect
        first = c.text.splitlines()[0]
        print("  %s %s:%d  %s" % ("ok  " if not problem else "FAIL", doc, c.line,
                                  first[:90] + (" ..." if len(first) > 90 or "\n" in c.text
                                               else "")), flush=True)
        results.append((doc, c, problem, out, list(gateway.log)))


def CheckStackFiles(doc, blocks, cli, env, work, results):
    """Every yaml block that is a stack file: faas-cli deploy accepts it, images lower case."""
    for info, first, lines in blocks:
        text = "\n".join(lines) + "\n"
        if info.split()[:1] != ["yaml"] or not re.search(r"^functions:", text, re.M):
            continue
        folder = tempfile.mkdtemp(prefix="stack-", dir=work)
        with open(os.path.join(folder, "stack.yaml"), "w") as f:
            f.write(text)
        # faas-cli deploy reads template/<lang>/template.yml: this repository's templates are
        # pulled; another one (the of-watchdog python3-http of the move-over snippet) gets a
        # stand-in holding only its language, since it cannot be fetched here.
        faas_cli.Run([cli, "template", "pull", faas_cli.PUBLIC_URL], folder, env)
        for lang in re.findall(r"^\s*lang:\s*(\S+)", text, re.M):
            meta = os.path.join(folder, "template", lang, "template.yml")
            if not os.path.exists(meta):
                os.makedirs(os.path.dirname(meta))
                with open(meta, "w") as f:
                    f.write("language: %s\n" % lang)
        rc, out = faas_cli.Run([cli, "deploy", "-f", "stack.yaml"], folder, env)
        images = re.findall(r"^\s*image:\s*(\S+)", text, re.M)
        problem = None
        if rc != 0:
            problem = "faas-cli deploy -f refuses it (exit %d)" % rc
        elif any(i != i.lower() for i in images):
            problem = "an image name is not lower case: %s" % images
        print("  %s %s:%d  (stack file) faas-cli deploy -f stack.yaml" % (
            "ok  " if not problem else "FAIL", doc, first), flush=True)
        results.append((doc, Command("faas-cli deploy -f <the yaml block>", first), problem,
                        out, []))


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: docs_test.py PATH/hmac-watchdog")
    cli = faas_cli.FaasCliOrSkip(NAME)
    binary = faas_cli.UseWatchdog(sys.argv[1])
    started = time.monotonic()
    work = tempfile.mkdtemp(prefix="hw-docs-")
    results, skipped, errors = [], 0, []
    gateway = None
    try:
        repo = faas_cli.RepositoryCopy(os.path.join(work, "repo"))
        bin_dir = os.path.join(work, "bin")
        os.makedirs(bin_dir)
        os.symlink(cli, os.path.join(bin_dir, "faas-cli"))
        os.symlink(binary, os.path.join(bin_dir, "hmac-watchdog"))
        env = faas_cli.Environment(os.path.join(work, "home"), faas_cli.GitConfigRedirect(
            os.path.join(work, "gitconfig"), repo), extra_path=bin_dir)
        gateway = Gateway(work)
        env["OPENFAAS_URL"] = "http://127.0.0.1:%d" % gateway.port
        print("%s: %s; documents from the working tree; gateway stand-in on port %d" % (
            NAME, cli, gateway.port))
        for doc in DOCUMENTS:
            blocks = Blocks(os.path.join(faas_cli.SOURCE_DIR, doc))
            for info, first, lines in blocks:
                words = info.split()
                if words[:1] == ["sh"] and words[1:] == ["no-run"]:
                    skipped += len(Commands(lines, first))
                elif words[:1] == ["sh"] and words[1:]:
                    errors.append("%s:%d: unknown sh block tag %r (sh or sh no-run)" % (
                        doc, first - 1, info))
                elif words[:1] and words[0] in SHELL_TAGS:
                    errors.append("%s:%d: a %s block: tag commands sh or sh no-run" % (
                        doc, first - 1, words[0]))
            RunDocument(doc, blocks, env, gateway, work, results)
            CheckStackFiles(doc, blocks, cli, env, work, results)
    finally:
        if gateway:
            gateway.Close()
        if not os.environ.get("HW_KEEP_TEMP"):
            shutil.rmtree(work, ignore_errors=True)
    failed = [r for r in results if r[2]]
    print("%s: %d command(s) run as printed, %d skipped (sh no-run), %d stack file(s) checked; "
          "%d failed; %.1fs" % (NAME, sum(1 for r in results if not r[1].text.startswith(
              "faas-cli deploy -f <")), skipped, sum(1 for r in results if r[1].text.startswith(
                  "faas-cli deploy -f <")), len(failed) + len(errors),
              time.monotonic() - started))
    for doc, c, problem, out, log in failed:
        print("--- FAILED %s:%d: %s\n%s\n--- its output:\n%s--- gateway requests: %s" % (
            doc, c.line, problem, c.text, out, log[-8:]))
    for e in errors:
        print("--- FAILED " + e)
    sys.exit(1 if failed or errors else 0)


if __name__ == "__main__":
    main()
