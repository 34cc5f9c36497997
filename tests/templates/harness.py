"""What the template tests share: reading a template the way faas-cli and an image build do
(template.yml, stack.yaml, the Dockerfile), preparing its build context, the requests every
template and example must answer, and the checks on the answers. tests/templates/ runs the
templates on this machine; tests/container/ runs the same scenarios in podman containers.

Standard library only."""
import dataclasses
import glob
import http.client
import json
import os
import random
import re
import shlex
import shutil
import socket
import subprocess
import time
import uuid

SOURCE_DIR = os.path.realpath(os.path.join(os.path.dirname(__file__), "..", ".."))
# templates/openfaas/ holds only the faas-cli templates (the top-level template/ links to it,
# and faas-cli template pull takes every folder there for a template); the examples sit
# next to it, in templates/examples/, where faas-cli does not see them.
TEMPLATES_DIR = os.path.join(SOURCE_DIR, "templates", "openfaas")
EXAMPLES_DIR = os.path.join(SOURCE_DIR, "templates", "examples")
TEMPLATE_NAMES = ["bash-hmac", "python3-http-hmac", "node-hmac", "cpp-hmac"]
EXAMPLE_NAMES = ["github-receiver", "patreon-receiver"]

# The PATH of Debian's images (docker.io/library/debian): the handler's tools (python3, node,
# g++) are found where the image would find them.
DEBIAN_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


# --- A YAML subset: what template.yml and stack.yaml use ---------------------------------------

def _scalar(text):
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return text


def _strip_comment(line):
    out, quote = [], None
    for i, c in enumerate(line):
        if quote:
            if c == quote:
                quote = None
        elif c in "'\"":
            quote = c
        elif c == "#" and (i == 0 or line[i - 1] in " \t"):
            break
        out.append(c)
    return "".join(out).rstrip()


def ParseYaml(text):
    """Maps, lists of scalars or maps, quoted and plain scalars, `|` blocks and comments:
    enough for template.yml and stack.yaml. Raises ValueError on anything else."""
    lines = []
    raw = text.splitlines()
    i = 0
    while i < len(raw):
        line = raw[i]
        stripped = _strip_comment(line)
        if not stripped.strip():
            i += 1
            continue
        indent = len(stripped) - len(stripped.lstrip(" "))
        content = stripped.strip()
        if content.endswith(": |") or content.endswith(": >") or content == "|":
            block, i = [], i + 1
            while i < len(raw) and (not raw[i].strip() or
                                    len(raw[i]) - len(raw[i].lstrip(" ")) > indent):
                block.append(raw[i])
                i += 1
            width = min((len(b) - len(b.lstrip(" ")) for b in block if b.strip()), default=0)
            lines.append((indent, content[:-1].rstrip() + " ",
                          "\n".join(b[width:] for b in block).rstrip("\n") + "\n"))
            continue
        lines.append((indent, content, None))
        i += 1

    def parse(pos, indent):
        if pos >= len(lines):
            return None, pos
        if lines[pos][1].startswith("- "):
            items = []
            while pos < len(lines) and lines[pos][0] == indent and lines[pos][1].startswith("- "):
                rest = lines[pos][1][2:]
                if re.match(r"^[\w.-]+:( |$)", rest):
                    # "- name: x" starts a map whose keys sit two columns further in.
                    lines[pos] = (indent + 2, rest, lines[pos][2])
                    value, pos = parse(pos, indent + 2)
                    items.append(value)
                else:
                    items.append(_scalar(rest))
                    pos += 1
            return items, pos
        result = {}
        while pos < len(lines) and lines[pos][0] == indent:
            _, content, block = lines[pos]
            m = re.match(r"^([\w.\-/]+):(?: (.*))?$", content)
            if not m:
                raise ValueError("unsupported YAML line: %r" % content)
            key, value = m.group(1), (m.group(2) or "").strip()
            if block is not None:
                result[key] = block
                pos += 1
            elif value:
                result[key] = _scalar(value)
                pos += 1
            elif pos + 1 < len(lines) and lines[pos + 1][0] > indent:
                result[key], pos = parse(pos + 1, lines[pos + 1][0])
            elif (pos + 1 < len(lines) and lines[pos + 1][0] == indent and
                  lines[pos + 1][1].startswith("- ")):
                result[key], pos = parse(pos + 1, indent)
            else:
                result[key] = None
                pos += 1
        return result, pos

    value, pos = parse(0, lines[0][0] if lines else 0)
    if pos != len(lines):
        raise ValueError("could not parse YAML from line: %r" % (lines[pos][1],))
    return value


def ReadYaml(path):
    with open(path, encoding="utf-8") as f:
        return ParseYaml(f.read())


# --- faas-cli: a function's build context --------------------------------------------------------

@dataclasses.dataclass
class Function:
    """One function as faas-cli would build it: a template, a handler folder, an environment."""
    name: str
    lang: str
    template_dir: str
    handler_dir: str  # overlaid onto the template's handler_folder; None = template's own
    environment: dict
    secrets: list

    @property
    def scheme(self):
        return self.environment.get("hmac_scheme") or TemplateEnv(self.lang)["hmac_scheme"]


def TemplateFunction(lang):
    """A template used as is (its own function/ folder), as `faas-cli new --lang` makes it."""
    return Function(name=lang, lang=lang, template_dir=os.path.join(TEMPLATES_DIR, lang),
                    handler_dir=None, environment={}, secrets=["webhook-secret"])


def ExampleFunction(example):
    """The single function of templates/examples/EXAMPLE/stack.yaml."""
    folder = os.path.join(EXAMPLES_DIR, example)
    stack = ReadYaml(os.path.join(folder, "stack.yaml"))
    (name, spec), = stack["functions"].items()
    return Function(name=name, lang=spec["lang"],
                    template_dir=os.path.join(TEMPLATES_DIR, spec["lang"]),
                    handler_dir=os.path.normpath(os.path.join(folder, spec["handler"])),
                    environment={k: str(v) for k, v in (spec.get("environment") or {}).items()},
                    secrets=list(spec.get("secrets") or []))


def PrepareContext(function, dest):
    """Copies the template into dest and overlays the handler on its handler_folder, as
    `faas-cli build` does (build/<fn>/). Returns dest."""
    shutil.copytree(function.template_dir, dest, symlinks=True)
    if function.handler_dir:
        meta = ReadYaml(os.path.join(function.template_dir, "template.yml"))
        target = os.path.join(dest, meta.get("handler_folder") or "function")
        shutil.copytree(function.handler_dir, target, symlinks=True, dirs_exist_ok=True)
    return dest


# --- The Dockerfile ------------------------------------------------------------------------------

@dataclasses.dataclass
class Instruction:
    keyword: str
    args: str
    line: int


def ParseDockerfile(path):
    """The instructions of a Dockerfile, continuation lines joined, comments dropped."""
    out, pending, start = [], "", 0
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            stripped = line.strip()
            if not pending and (not stripped or stripped.startswith("#")):
                continue
            if pending and stripped.startswith("#"):
                continue
            if not pending:
                start = number
            if stripped.endswith("\\"):
                pending += stripped[:-1] + " "
                continue
            pending += stripped
            keyword, _, args = pending.partition(" ")
            out.append(Instruction(keyword.upper(), args.strip(), start))
            pending = ""
    return out


def _expand(text, variables):
    def one(m):
        name = m.group(1) or m.group(3)
        default = m.group(2)
        value = variables.get(name)
        if default is not None:
            mode, fallback = default[:2], default[2:]
            if mode == ":-":
                return value if value else fallback
            if mode == ":+":
                return fallback if value else ""
        return value or ""
    return re.sub(r"\$\{(\w+)(:[-+][^}]*)?\}|\$(\w+)", lambda m: one(m) if m.group(1) or
                  m.group(3) else m.group(0), text)


def _env_pairs(args):
    words = shlex.split(args)
    if words and "=" not in words[0]:  # legacy "ENV name value with spaces"
        return [(words[0], args.split(None, 1)[1].strip() if len(words) > 1 else "")]
    return [tuple(w.split("=", 1)) for w in words]


@dataclasses.dataclass
class Stage:
    name: str
    base: str
    env: dict
    args: dict
    workdir: str = "/"
    user: str = "root"
    cmd: list = None
    healthcheck: str = None
    root: str = None


# A RUN that installs packages or creates users prepares the image's system; everything else
# (compiling, build-time tests) is the function's build and is run on this machine too.
_SYSTEM_RUN = re.compile(r"\b(apt-get|apt|useradd|groupadd|adduser|addgroup)\b")


class LocalBuild:
    """Builds a template's Dockerfile on this machine, into folders instead of an image:
    each stage gets a root folder; COPY, WORKDIR, ENV, ARG and CMD are followed; the
    `watchdog` stage is the hmac-watchdog binary under test; RUN instructions that set up the
    system (apt-get, useradd) are skipped and listed in `skipped`, the others run with sh in
    the stage's WORKDIR. The result is the last stage: its root, ENV, WORKDIR and CMD."""

    def __init__(self, context, workspace, watchdog_binary, build_args=None):
        self.context = context
        self.workspace = workspace
        self.watchdog_binary = watchdog_binary
        self.build_args = dict(build_args or {})
        self.stages = []
        self.skipped = []
        self.ran = []

    def _path(self, stage, path):
        absolute = path if path.startswith("/") else os.path.join(stage.workdir, path)
        return os.path.join(stage.root, os.path.normpath(absolute).lstrip("/"))

    def _stage(self, name):
        for stage in self.stages:
            if stage.name == name:
                return stage
        return None

    def Build(self):
        instructions = ParseDockerfile(os.path.join(self.context, "Dockerfile"))
        global_args = {}
        stage = None
        for ins in instructions:
            k = ins.keyword
            if k == "ARG":
                name, _, default = ins.args.partition("=")
                scope = stage.args if stage else global_args
                value = self.build_args.get(name, _scalar(default) if default else
                                            global_args.get(name, ""))
                scope[name] = value
                continue
            if k == "FROM":
                words = ins.args.split()
                words = [w for w in words if not w.startswith("--platform=")]
                base = _expand(words[0], global_args)
                name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else str(
                    len(self.stages))
                parent = self._stage(base)
                stage = Stage(name=name, base=base, env=dict(parent.env) if parent else {},
                              args={}, root=os.path.join(self.workspace, "stage-" + name))
                if parent:
                    shutil.copytree(parent.root, stage.root, symlinks=True)
                    stage.workdir = parent.workdir
                else:
                    os.makedirs(stage.root)
                if name == "watchdog":
                    shutil.copy2(self.watchdog_binary, os.path.join(stage.root, "fwatchdog"))
                    shutil.copy2(self.watchdog_binary, os.path.join(stage.root, "hmac-watchdog"))
                self.stages.append(stage)
                continue
            if stage is None:
                raise ValueError("line %d: %s before FROM" % (ins.line, k))
            variables = dict(global_args, **stage.args, **stage.env)
            if k == "ENV":
                for key, value in _env_pairs(ins.args):
                    stage.env[key] = _expand(value, variables)
                    variables[key] = stage.env[key]
            elif k == "WORKDIR":
                path = _expand(ins.args, variables)
                stage.workdir = os.path.normpath(os.path.join(stage.workdir, path))
                os.makedirs(self._path(stage, "."), exist_ok=True)
            elif k == "COPY":
                self._copy(stage, shlex.split(_expand(ins.args, variables)), ins)
            elif k == "RUN":
                self._run(stage, ins, variables)
            elif k == "USER":
                stage.user = ins.args
            elif k == "CMD":
                stage.cmd = json.loads(ins.args) if ins.args.startswith("[") else [
                    "/bin/sh", "-c", ins.args]
            elif k == "HEALTHCHECK":
                stage.healthcheck = ins.args
            elif k in ("EXPOSE", "LABEL", "ENTRYPOINT", "SHELL", "STOPSIGNAL", "VOLUME"):
                pass
            else:
                raise ValueError("line %d: %s is not supported by LocalBuild" % (ins.line, k))
        return self.stages[-1]

    def _copy(self, stage, words, ins):
        source_stage = None
        while words and words[0].startswith("--"):
            flag = words.pop(0)
            if flag.startswith("--from="):
                source_stage = self._stage(flag[len("--from="):])
                if source_stage is None:
                    raise ValueError("line %d: COPY from an unknown stage" % ins.line)
        *sources, dest = words
        paths = []
        for src in sources:
            if source_stage:
                found = [os.path.join(source_stage.root, src.lstrip("/"))]
            else:
                found = sorted(glob.glob(os.path.join(self.context, src)))
            if not found or not all(os.path.exists(p) for p in found):
                raise ValueError("line %d: COPY source %s not found" % (ins.line, src))
            paths += found
        target = self._path(stage, dest)
        into_dir = dest.endswith("/") or len(paths) > 1 or os.path.isdir(target)
        for p in paths:
            if os.path.isdir(p):
                shutil.copytree(p, target, symlinks=True, dirs_exist_ok=True)
            else:
                out = os.path.join(target, os.path.basename(p)) if into_dir else target
                os.makedirs(os.path.dirname(out), exist_ok=True)
                shutil.copy2(p, out)

    def _run(self, stage, ins, variables):
        command = ins.args
        if command.startswith("["):
            command = " ".join(shlex.quote(w) for w in json.loads(command))
        if _SYSTEM_RUN.search(command):
            self.skipped.append(command)
            return
        env = {"PATH": DEBIAN_PATH, "HOME": self._path(stage, "/home/app")}
        env.update(variables)
        env["PATH"] = DEBIAN_PATH  # the image's PATH, not a Dockerfile ENV PATH
        cwd = self._path(stage, ".")
        os.makedirs(cwd, exist_ok=True)
        done = subprocess.run(["/bin/sh", "-c", command], cwd=cwd, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300)
        self.ran.append(command)
        if done.returncode != 0:
            hint = ("\n(a tool is missing on this machine: the tests need g++, python3 and "
                    "node, which .ci/deps installs)" if done.returncode == 127 else "")
            raise AssertionError("RUN at line %d failed (exit %d):\n%s\n%s%s" % (
                ins.line, done.returncode, command, done.stdout.decode(errors="replace"), hint))


def TemplateEnv(lang):
    """The ENV of a template's final stage, read from its Dockerfile (no build)."""
    env, stage_env = {}, {}
    for ins in ParseDockerfile(os.path.join(TEMPLATES_DIR, lang, "Dockerfile")):
        if ins.keyword == "FROM":
            stage_env = {}
        elif ins.keyword == "ENV":
            for key, value in _env_pairs(ins.args):
                stage_env[key] = value
        env = stage_env
    return env


# --- Requests: what a sender sends, signed or forged ---------------------------------------------

@dataclasses.dataclass
class Scenario:
    """A request a function must answer when signed, and must never see when forged."""
    body: bytes
    headers: dict  # event headers (not the signature)
    status: int
    answer: bytes  # the exact response body expected for the signed request


def ScenarioFor(function):
    """The signed request each template/example is tested with, and its expected answer."""
    if function.name == "github-receiver":
        body = b'{"zen":"Design for failure.","hook_id":4242}'
        return Scenario(body, {"X-GitHub-Event": "ping", "Content-Type": "application/json"},
                        200, b"pong: Design for failure.\n")
    if function.name == "patreon-receiver":
        body = (b'{"data":{"type":"member","attributes":{"full_name":"Ada Lovelace",'
                b'"patron_status":"active_patron"}}}')
        return Scenario(body, {"X-Patreon-Event": "members:pledge:create",
                               "Content-Type": "application/json"},
                        200, b"new patron: Ada Lovelace (active_patron)\n")
    body = b'{"zen":"Keep it logically awesome.","token":"%s"}' % uuid.uuid4().hex.encode()
    event_header = "X-Patreon-Event" if function.scheme == "patreon" else "X-GitHub-Event"
    return Scenario(body, {event_header: "ping", "Content-Type": "application/json"}, 200,
                    b"event=ping verified=%s\n%s\n" % (function.scheme.encode(), body))


def Sign(watchdog_binary, scheme, secret_file, body, header=None):
    """The signature header(s) a sender of `scheme` sends, from `hmac-watchdog sign`."""
    cmd = [watchdog_binary, "sign", "--scheme", scheme, "--secret-file", secret_file]
    if header:
        cmd += ["--header", header]
    done = subprocess.run(cmd, input=body, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=30)
    if done.returncode != 0:
        raise AssertionError("hmac-watchdog sign failed: %s" % done.stderr.decode())
    headers = {}
    for line in done.stdout.decode().splitlines():
        name, _, value = line.partition(":")
        if value:
            headers[name.strip()] = value.strip()
    if not headers:
        raise AssertionError("hmac-watchdog sign printed no header")
    return headers


def Post(port, body, headers, timeout=20):
    """POST / over loopback: (status, lower-case headers, body)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("POST", "/", body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def Get(port, path, timeout=5):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def _PortWindow():
    """Ports outside the kernel's ephemeral range, where outgoing connections get their source
    ports: up to 16384 below it, or above it when there is no room below; None: no room."""
    low, high = 32768, 60999
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low, high = (int(x) for x in f.read().split()[:2])
    except (OSError, ValueError):
        pass
    if low - 2048 >= 1024:
        return max(1024, low - 16384), low
    if high + 2048 <= 65535:
        return high + 1, min(65536, high + 1 + 16384)
    return None


_PORT_WINDOW = _PortWindow()
_port_next = [random.randrange(1 << 30)]


def _KernelPort():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _CanBind(port):
    """As the watchdog binds: IPv6 any address, IPv4 too; IPv4 loopback without IPv6."""
    try:
        s = socket.socket(socket.AF_INET6)
        address = ("::", port)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    except OSError:
        s = socket.socket(socket.AF_INET)
        address = ("127.0.0.1", port)
    with s:
        try:
            s.bind(address)
        except OSError:
            return False
        return True


def FreePort():
    """A port that was free a moment ago, for a process that binds it later.

    Taken from outside the kernel's ephemeral range (as the C++ harness does): a port the
    kernel picks (bind to 0) lies where every outgoing connection of the tests running
    alongside gets its source port, and one of them could take it before the process binds it.
    """
    if _PORT_WINDOW is None:
        return _KernelPort()
    first, end = _PORT_WINDOW
    for _ in range(4096):
        port = first + _port_next[0] % (end - first)
        _port_next[0] += 7919
        if _CanBind(port):
            return port
    raise RuntimeError("FreePort: no free port outside the ephemeral range")


def WriteSecrets(folder, names, value):
    """One secret file per name, as OpenFaaS mounts them (with faas-cli's trailing newline)."""
    os.makedirs(folder, exist_ok=True)
    for name in names:
        with open(os.path.join(folder, name), "w") as f:
            f.write(value + "\n")
    return os.path.join(folder, names[0])


def Metric(text, name):
    """The value of an unlabelled metric in Prometheus text, or None."""
    m = re.search(r"^%s (\S+)$" % re.escape(name), text, re.M)
    return float(m.group(1)) if m else None


def WaitFor(predicate, deadline_seconds, what, interval=0.05):
    deadline = time.monotonic() + deadline_seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("timed out after %ss waiting for %s" % (deadline_seconds, what))


class Exchange:
    """The requests every function is tested with, and what they prove:
    - a request signed the way the scheme's sender signs it: 200 and the handler's answer;
    - the same request signed with a wrong secret, and one with no signature: 401 from the
      watchdog itself, and the handler never ran (its event-type token, which every handler
      logs, never shows in the function's log; the watchdog counted no fork / no forward)."""

    def __init__(self, function, watchdog_binary, secret_file, wrong_secret_file,
                 sign_scheme=None, sign_header=None):
        self.function = function
        self.binary = watchdog_binary
        self.secret_file = secret_file
        self.wrong_secret_file = wrong_secret_file
        self.sign_scheme = sign_scheme or function.scheme
        self.sign_header = sign_header
        self.scenario = ScenarioFor(function)
        self.forged_token = "forged-" + uuid.uuid4().hex[:12]

    def _sign(self, secret_file):
        return Sign(self.binary, self.sign_scheme, secret_file, self.scenario.body,
                    self.sign_header)

    def SignedEventValue(self):
        """The event type the signed request carries; every handler logs it."""
        return self.scenario.headers[self._event_header()]

    def _event_header(self):
        return next(iter(k for k in self.scenario.headers if k != "Content-Type"))

    def SendForged(self, port):
        """Returns a list of failure messages (empty when all is well)."""
        problems = []
        headers = dict(self.scenario.headers)
        headers[self._event_header()] = self.forged_token
        forged = dict(headers)
        forged.update(self._sign(self.wrong_secret_file))
        for what, hdrs in (("forged", forged), ("unsigned", headers)):
            status, resp_headers, body = Post(port, self.scenario.body, hdrs)
            if status != 401:
                problems.append("%s request: status %d, want 401 (%r)" % (what, status, body))
            if resp_headers.get("x-openfaas-internal") != "hmac-watchdog":
                problems.append("%s request: the 401 was not made by the watchdog" % what)
            if self.forged_token.encode() in body:
                problems.append("%s request: the handler's answer came back" % what)
        return problems

    def SendSigned(self, port):
        headers = dict(self.scenario.headers)
        headers.update(self._sign(self.secret_file))
        status, _, body = Post(port, self.scenario.body, headers)
        problems = []
        if status != self.scenario.status:
            problems.append("signed request: status %d, want %d (%r)" % (
                status, self.scenario.status, body))
        elif body != self.scenario.answer:
            problems.append("signed request: answer %r, want %r" % (body, self.scenario.answer))
        return problems

    def CheckNeverRan(self, function_log, metrics_text):
        """After SendForged then SendSigned: proof that the forged requests ran nothing."""
        problems = []
        if self.forged_token in function_log:
            problems.append("the handler ran for a forged request (its log shows %s)" %
                            self.forged_token)
        mode = TemplateEnv(self.function.lang).get("mode", "streaming")
        counter = "hmac_upstream_requests_total" if mode == "http" else \
            "hmac_function_spawns_total"
        count = Metric(metrics_text, counter)
        if count != 1:
            problems.append("%s = %s after 1 signed and 2 rejected requests, want 1" % (
                counter, count))
        return problems
