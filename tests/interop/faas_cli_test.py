"""The templates as a faas-cli user meets them, with the real faas-cli (0.18.12 from
../shared/peers; the test says it skipped when that file is not there):

1. `faas-cli template pull` from a git copy of the working tree writes exactly the four
   templates, and `faas-cli new --list` offers exactly those;
2. `faas-cli new --lang T` for each template, then `faas-cli build --shrinkwrap`;
3. every COPY source of each build/<fn>/Dockerfile exists in build/<fn>/;
4. build/<fn>/ is built on this machine as its Dockerfile says (tests/templates' LocalBuild)
   and the watchdog started with the image's environment, then `faas-cli invoke --sign`
   with the right key gets 200 and the handler's answer; with a wrong key and with no key,
   401, and the handler never ran (its log never shows the request's event token, and the
   watchdog counted one fork or forward in all).

    python3 tests/interop/faas_cli_test.py BUILD/hmac-watchdog
"""
import glob
import os
import shutil
import sys
import tempfile
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import faas_cli  # noqa: E402
from faas_cli import harness, template_test  # noqa: E402

NAME = "faas_cli_test"


class Failures:
    def __init__(self):
        self.items = []

    def Check(self, ok, what, detail=""):
        print("  %s %s" % ("ok  " if ok else "FAIL", what), flush=True)
        if not ok:
            self.items.append(what + ("\n" + detail if detail else ""))
        return ok


def CopySources(build_dir):
    """The COPY sources (from the build context, not --from) of build_dir/Dockerfile."""
    out = []
    for ins in harness.ParseDockerfile(os.path.join(build_dir, "Dockerfile")):
        if ins.keyword != "COPY":
            continue
        words = ins.args.split()
        if any(w.startswith("--from=") for w in words):
            continue
        words = [w for w in words if not w.startswith("--")]
        out += [(ins.line, src) for src in words[:-1]]
    return out


def Invoke(cli, fn, port, env, cwd, body, event, key):
    cmd = [cli, "invoke", fn, "--gateway", "http://127.0.0.1:%d" % port,
           "-H", "X-GitHub-Event: %s" % event, "-H", "Content-Type: application/json"]
    if key is not None:
        cmd += ["--sign", "X-Hub-Signature-256", "--key", key]
    return faas_cli.Run(cmd, cwd, env, input=body, timeout=60)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: faas_cli_test.py PATH/hmac-watchdog")
    cli = faas_cli.FaasCliOrSkip(NAME)
    faas_cli.UseWatchdog(sys.argv[1])
    started = time.monotonic()
    failures = Failures()
    work = tempfile.mkdtemp(prefix="hw-interop-")
    try:
        repo = faas_cli.RepositoryCopy(os.path.join(work, "repo"))
        env = faas_cli.Environment(os.path.join(work, "home"),
                                   faas_cli.GitConfigRedirect(os.path.join(work, "gitconfig"),
                                                              repo))
        project = os.path.join(work, "project")
        os.makedirs(project)
        print("%s: %s, templates from a git copy of the working tree" % (NAME, cli))

        rc, out = faas_cli.Run([cli, "template", "pull", repo], project, env)
        pulled = sorted(os.listdir(os.path.join(project, "template"))) if rc == 0 else []
        failures.Check(rc == 0 and pulled == sorted(harness.TEMPLATE_NAMES),
                       "template pull writes exactly the four templates (%s)" % ", ".join(pulled),
                       out)
        rc, out = faas_cli.Run([cli, "new", "--list"], project, env)
        listed = sorted(l[2:].strip() for l in out.splitlines() if l.startswith("- "))
        failures.Check(rc == 0 and listed == sorted(harness.TEMPLATE_NAMES),
                       "new --list offers exactly the four templates", out)

        functions = {}
        for lang in harness.TEMPLATE_NAMES:
            fn = "fn-" + lang
            cmd = [cli, "new", "--lang", lang, fn]
            if os.path.exists(os.path.join(project, "stack.yaml")):
                cmd += ["--append", "stack.yaml"]
            rc, out = faas_cli.Run(cmd, project, env)
            if failures.Check(rc == 0 and os.path.isdir(os.path.join(project, fn)),
                              "new --lang %s %s" % (lang, fn), out):
                functions[fn] = lang
        rc, out = faas_cli.Run([cli, "build", "--shrinkwrap", "-f", "stack.yaml"], project, env)
        failures.Check(rc == 0, "build --shrinkwrap -f stack.yaml", out)
        stack = harness.ReadYaml(os.path.join(project, "stack.yaml"))

        for fn, lang in functions.items():
            build_dir = os.path.join(project, "build", fn)
            missing = [(line, src) for line, src in CopySources(build_dir)
                       if not glob.glob(os.path.join(build_dir, src))]
            failures.Check(os.path.isfile(os.path.join(build_dir, "Dockerfile")) and not missing,
                           "build/%s: every COPY source of its Dockerfile exists" % fn,
                           "missing: %r" % missing)
            spec = stack["functions"][fn]
            function = harness.Function(
                name=fn, lang=lang, template_dir=build_dir, handler_dir=None,
                environment={k: str(v) for k, v in (spec.get("environment") or {}).items()},
                secrets=list(spec.get("secrets") or ["webhook-secret"]))
            try:
                with template_test.LocalFunction(function) as local:
                    with open(local.secret_file) as f:
                        key = f.read().strip()
                    body = b'{"zen":"Keep it logically awesome.","id":"%s"}' % uuid.uuid4().hex[
                        :8].encode()
                    signed, wrong, unsigned = ("ev-" + uuid.uuid4().hex[:10] for _ in range(3))
                    rc, out = Invoke(cli, fn, local.port, env, project, body, signed, key)
                    failures.Check(rc == 0 and "event=%s verified=github" % signed in out and
                                   body.decode() in out,
                                   "%s: invoke --sign with the right key: 200, the handler's "
                                   "answer" % fn, out)
                    for what, event, k in (("a wrong key", wrong, "not-" + key), ("no key",
                                                                                unsigned, None)):
                        rc, out = Invoke(cli, fn, local.port, env, project, body, event, k)
                        failures.Check(rc != 0 and "401" in out and event not in out,
                                       "%s: invoke with %s: 401" % (fn, what), out)
                    harness.WaitFor(lambda: signed in local.Log(), 10, "the handler's log line")
                    log = local.Log()
                    failures.Check(wrong not in log and unsigned not in log,
                                   "%s: the handler never ran for the rejected requests" % fn, log)
                    mode = harness.TemplateEnv(lang).get("mode", "streaming")
                    counter = ("hmac_upstream_requests_total" if mode == "http" else
                               "hmac_function_spawns_total")
                    count = harness.Metric(local.Metrics(), counter)
                    failures.Check(count == 1, "%s: %s = %s after 1 signed and 2 rejected "
                                   "requests" % (fn, counter, count))
            except (AssertionError, ValueError, OSError) as e:
                failures.Check(False, "%s: built and started from build/%s" % (fn, fn), str(e))
    finally:
        if not os.environ.get("HW_KEEP_TEMP"):
            shutil.rmtree(work, ignore_errors=True)
    print("%s: %d check(s) failed, %.1fs" % (NAME, len(failures.items),
                                             time.monotonic() - started))
    for f in failures.items:
        print("--- FAILED: " + f)
    sys.exit(1 if failures.items else 0)


if __name__ == "__main__":
    main()
