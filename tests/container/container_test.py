"""Container tests with podman: the top-level Dockerfile's FROM scratch image, and every
template and example image built on it, run as containers and sent signed and forged requests.

No registry is reachable and no Docker engine runs here, so everything FROM is local:
debian:bookworm is made with debootstrap and `podman import` (cached in the storage), and the
watchdog image is tagged localhost/hmac-watchdog:test for the templates' WATCHDOG_IMAGE.
The watchdog image packs the binary given with --watchdog (the Dockerfile's BUILD_FROM=binary,
stripped the way its source stage strips): the image then holds exactly the bytes the release
suite tested, and CI does not compile the same static binary a second time (about 8 minutes
on 2 cores). HW_CONTAINER_FROM_SOURCE=1 builds it as users build it instead, from source by
the Dockerfile's own stages (.ci/deps, .ci/fetch-httplib, .ci/build and the unit tests inside
debian:bookworm; cached in the storage while the sources do not change).
podman runs with runc (crun fails in this sandbox) and keeps its storage under --state.

    python3 container_test.py --watchdog BUILD/hmac-watchdog --state build/podman
"""
import argparse
import json
import os
import platform
import shutil
import struct
import subprocess
import sys
import tarfile
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "templates"))
import harness  # noqa: E402

WATCHDOG_IMAGE = "localhost/hmac-watchdog:test"
DEBIAN_IMAGE = "localhost/debian:bookworm"
LABEL = "hw.container-test=1"
RUN_LIMITS = ["--ulimit", "nofile=4096:4096", "--ulimit", "nproc=4096:4096"]
STARTED = time.monotonic()


class Podman:
    """podman with this test's storage, runtime and time limits."""

    def __init__(self, state):
        # overlay needs a file system that can hold overlay mounts; HW_PODMAN_STORAGE_DRIVER=vfs
        # works anywhere (slower, bigger), in a storage folder of its own.
        driver = os.environ.get("HW_PODMAN_STORAGE_DRIVER", "overlay")
        root = os.path.join(state, "root" if driver == "overlay" else "root-" + driver)
        self.base = ["podman", "--root", root,
                     "--runroot", os.path.join(state, "run"), "--runtime", "runc",
                     "--storage-driver", driver, "--events-backend", "file",
                     "--cgroup-manager", "cgroupfs"]

    def __call__(self, *args, timeout=120, check=True, input=None, capture=True,
                 merge_stderr=True):
        """Runs podman ARGS; stdout (with stderr when merge_stderr) is in .stdout."""
        pipe = subprocess.PIPE if capture else None
        done = subprocess.run(self.base + list(args), input=input, timeout=timeout, stdout=pipe,
                              stderr=(subprocess.STDOUT if merge_stderr else pipe)
                              if capture else None)
        if check and done.returncode != 0:
            out = (done.stdout or b"") + (done.stderr or b"")
            raise AssertionError("podman %s failed (exit %d):\n%s" % (
                " ".join(args[:3]), done.returncode, out.decode(errors="replace")[-4000:]))
        return done

    def Out(self, *args, **kw):
        return self(*args, **kw).stdout.decode(errors="replace")


class Steps:
    """Runs named steps in order, prints how long each took, and remembers the failures."""

    def __init__(self):
        self.failures = []

    def Run(self, title, fn, *args, required=False):
        t0 = time.monotonic()
        print("--- %s" % title, flush=True)
        try:
            result = fn(*args)
            print("    ok (%.1fs, at %.0fs)" % (time.monotonic() - t0,
                                                 time.monotonic() - STARTED), flush=True)
            return result
        except Exception as e:  # a failed step is reported; later independent steps still run
            print("    FAIL (%.1fs): %s" % (time.monotonic() - t0, e), flush=True)
            self.failures.append(title)
            if required:
                raise SystemExit(self.Summary())
            return None

    def Summary(self):
        print("\n=== container tests: %.0fs" % (time.monotonic() - STARTED))
        if self.failures:
            print("FAILED:\n  " + "\n  ".join(self.failures))
            return 1
        print("all container tests passed")
        return 0


def RemoveLeftovers(podman):
    ids = podman.Out("ps", "-a", "-q", "--filter", "label=" + LABEL).split()
    if ids:
        podman("rm", "-f", "-t", "0", *ids, timeout=60)


def EnsureDebianImage(podman, state):
    if podman("image", "exists", DEBIAN_IMAGE, check=False).returncode == 0:
        print("    %s is cached" % DEBIAN_IMAGE)
        return
    rootfs = os.path.join(state, "rootfs-bookworm")
    shutil.rmtree(rootfs, ignore_errors=True)
    mirror = os.environ.get("HW_DEBIAN_MIRROR", "http://deb.debian.org/debian")
    done = subprocess.run(["debootstrap", "--variant=minbase", "bookworm", rootfs, mirror],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=900)
    if done.returncode != 0:
        raise AssertionError("debootstrap failed:\n" + done.stdout.decode()[-3000:])
    tar = subprocess.Popen(["tar", "-C", rootfs, "-c", "."], stdout=subprocess.PIPE)
    podman("import", "--change", "CMD [\"bash\"]", "-", "debian:bookworm",
           input=tar.stdout.read(), timeout=300)
    tar.wait()
    shutil.rmtree(rootfs, ignore_errors=True)


def BuildWatchdogImage(podman, work, binary):
    common = ["build", "--format", "docker", "--network", "host", "--layers",
              "-f", os.path.join(harness.SOURCE_DIR, "Dockerfile"), "-t", WATCHDOG_IMAGE]
    if os.environ.get("HW_CONTAINER_FROM_SOURCE") == "1":
        podman(*common, "--build-arg", "BUILD_FROM=source", harness.SOURCE_DIR,
               timeout=3600, capture=False)
        return
    context = os.path.join(work, "context-watchdog")
    shutil.rmtree(context, ignore_errors=True)
    os.makedirs(context)
    # The same strip as the Dockerfile's source build, so the two images hold the same bytes.
    subprocess.run(["strip", "-o", os.path.join(context, "hmac-watchdog"), binary], check=True)
    podman(*common, "--build-arg", "BUILD_FROM=binary", context, timeout=300)


def ElfFacts(data):
    """(machine, has PT_INTERP, has PT_DYNAMIC) of a 64-bit little-endian ELF file."""
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        raise AssertionError("not a 64-bit little-endian ELF file")
    machine = struct.unpack_from("<H", data, 18)[0]
    phoff = struct.unpack_from("<Q", data, 32)[0]
    phentsize, phnum = struct.unpack_from("<HH", data, 54)
    types = {struct.unpack_from("<I", data, phoff + i * phentsize)[0] for i in range(phnum)}
    return machine, 3 in types, 2 in types


def CheckScratchImage(podman, work):
    info = json.loads(podman.Out("image", "inspect", WATCHDOG_IMAGE))[0]
    config = info.get("Config", {})
    problems = []
    if config.get("Entrypoint") != ["/fwatchdog"]:
        problems.append("Entrypoint is %r" % config.get("Entrypoint"))
    if "8080/tcp" not in (config.get("ExposedPorts") or {}):
        problems.append("8080 is not exposed")
    if not info.get("Healthcheck"):
        problems.append("no HEALTHCHECK (built without --format docker?)")
    # The image's own layers (podman save), not a container's file system: nothing is added.
    with tempfile.TemporaryDirectory(dir=work) as scratch:
        archive = os.path.join(scratch, "image.tar")
        podman("save", "--format", "docker-archive", "-o", archive, WATCHDOG_IMAGE, timeout=120)
        members, binary = {}, b""
        with tarfile.open(archive) as outer:
            manifest = json.load(outer.extractfile("manifest.json"))
            for layer in manifest[0]["Layers"]:
                with tarfile.open(fileobj=outer.extractfile(layer)) as tar:
                    for m in tar.getmembers():
                        name = m.name.lstrip("./")
                        members[name] = m
                        if name == "fwatchdog":
                            binary = tar.extractfile(m).read()
    files = sorted(n for n, m in members.items() if not m.isdir())
    tmp = [members["tmp"]] if "tmp" in members else []
    if files != ["fwatchdog", "hmac-watchdog"]:
        problems.append("the image holds %r, want only fwatchdog and hmac-watchdog" % files)
    if not tmp or not tmp[0].isdir() or tmp[0].mode & 0o7777 != 0o1777:
        problems.append("no world-writable /tmp (mode 1777) for the lock file")
    layers = len(info.get("RootFS", {}).get("Layers", []))
    if layers != 1:
        problems.append("%d layers, want the one COPY of a FROM scratch image" % layers)
    if binary:
        machine, interp, dynamic = ElfFacts(binary)
        want = {"x86_64": 62, "aarch64": 183}.get(platform.machine())
        if interp:
            problems.append("/fwatchdog has an ELF interpreter: it is dynamically linked")
        if want and machine != want:
            problems.append("/fwatchdog is for ELF machine %d, this host is %s" % (
                machine, platform.machine()))
        print("    /fwatchdog: %d bytes, static (no PT_INTERP%s), %d layer(s)" % (
            len(binary), ", static-pie" if dynamic else "", layers))
    if problems:
        raise AssertionError("; ".join(problems))


class Container:
    """A detached container publishing 8080 and 8081 on 127.0.0.1 only; removed on exit."""

    def __init__(self, podman, image, secrets_dir, env=None, name=None):
        self.podman = podman
        self.name = name or "hw-test-%d-%d" % (os.getpid(), int(time.monotonic() * 1000))
        # --health-interval=disable: no systemd timer here; `podman healthcheck run` still
        # runs the image's HEALTHCHECK on demand.
        args = ["run", "-d", "--name", self.name, "--label", LABEL, *RUN_LIMITS,
                "--health-interval", "disable",
                "-p", "127.0.0.1::8080", "-p", "127.0.0.1::8081",
                "-v", "%s:/var/openfaas/secrets:ro" % secrets_dir]
        for k, v in (env or {}).items():
            args += ["-e", "%s=%s" % (k, v)]
        podman(*args, image, timeout=60)
        try:
            self.port = self._Published(8080)
            self.metrics_port = self._Published(8081)
            harness.WaitFor(self._Healthy, 60, "/_/health of %s" % image, interval=0.2)
        except BaseException:
            print(self.Logs())
            self.Remove()
            raise

    def _Published(self, port):
        out = self.podman.Out("port", self.name, "%d/tcp" % port).strip()
        return int(out.rsplit(":", 1)[1])

    def _Healthy(self):
        state = json.loads(self.podman.Out("inspect", self.name))[0]["State"]
        if not state.get("Running"):
            raise AssertionError("the container exited (%s):\n%s" % (
                state.get("ExitCode"), self.Logs()))
        try:
            return harness.Get(self.port, "/_/health", timeout=2)[0] == 200
        except OSError:
            return False

    def Logs(self):
        return self.podman.Out("logs", self.name, check=False)

    def Metrics(self):
        status, body = harness.Get(self.metrics_port, "/metrics")
        return body.decode() if status == 200 else ""

    def Remove(self):
        self.podman("rm", "-f", "-t", "1", self.name, check=False, timeout=60)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.Remove()
        return False


def Secrets(work, name, value):
    folder = tempfile.mkdtemp(prefix=name + "-", dir=work)
    os.chmod(folder, 0o755)
    path = harness.WriteSecrets(folder, ["webhook-secret"], value)
    os.chmod(path, 0o644)  # readable by the image's non-root app user
    return folder, path


def RunBaseImage(podman, work, binary):
    """The FROM scratch image on its own: serializing mode, the function being the watchdog's
    own --version (the image holds nothing else to run)."""
    secrets, secret_file = Secrets(work, "base-secrets", "base-" + os.urandom(8).hex())
    _, wrong_file = Secrets(work, "base-wrong", "wrong-secret")
    env = {"mode": "serializing", "fprocess": "/fwatchdog --version", "hmac_scheme": "github"}
    body = b'{"zen":"Half measures are as bad as nothing at all."}'
    problems = []
    # The image signs too: `docker run IMAGE sign ...` is how a sender can be simulated.
    signed = podman.Out("run", "--rm", "-i", "--no-healthcheck", "--label", LABEL,
                        *RUN_LIMITS, "-v", "%s:/s:ro" % secrets, WATCHDOG_IMAGE, "sign",
                        "--scheme", "github", "--secret-file", "/s/webhook-secret",
                        input=body, timeout=60, merge_stderr=False)
    sig = dict(line.split(": ", 1) for line in signed.strip().splitlines())
    want = harness.Sign(binary, "github", secret_file, body)["X-Hub-Signature-256"]
    if sig.get("X-Hub-Signature-256") != want:
        problems.append("the image's sign command printed %r, want %s" % (sig, want))
    forged = harness.Sign(binary, "github", wrong_file, body)
    with Container(podman, WATCHDOG_IMAGE, secrets, env) as c:
        status, headers, answer = harness.Post(c.port, body, forged)
        if status != 401 or headers.get("x-openfaas-internal") != "hmac-watchdog":
            problems.append("forged request: %d %r, want the watchdog's 401" % (status, answer))
        status, _, answer = harness.Post(c.port, body, sig)
        if status != 200 or not answer.startswith(b"hmac-watchdog version"):
            problems.append("signed request: %d %r, want 200 and the version" % (status, answer))
        spawns = harness.Metric(c.Metrics(), "hmac_function_spawns_total")
        if spawns != 1:
            problems.append("hmac_function_spawns_total = %s, want 1 (forged ones fork)" % spawns)
        if problems:
            problems.append("logs:\n" + c.Logs())
    if problems:
        raise AssertionError("\n".join(problems))


def BuildFunctionImage(podman, work, function):
    context = os.path.join(work, "context-" + function.name)
    shutil.rmtree(context, ignore_errors=True)
    harness.PrepareContext(function, context)
    image = "localhost/hw-test-%s:test" % function.name
    podman("build", "--format", "docker", "--network", "host", "--layers",
           "--build-arg", "WATCHDOG_IMAGE=" + WATCHDOG_IMAGE,
           "--build-arg", "DEBIAN_IMAGE=" + DEBIAN_IMAGE, "-t", image, context, timeout=900)
    return image


def RunFunctionImage(podman, work, function, image, binary):
    secrets, secret_file = Secrets(work, function.name + "-secrets",
                                   "container-" + os.urandom(8).hex())
    _, wrong_file = Secrets(work, function.name + "-wrong", "not-the-secret")
    exchange = harness.Exchange(function, binary, secret_file, wrong_file)
    problems = []
    with Container(podman, image, secrets, function.environment) as c:
        user = podman.Out("exec", c.name, "id", "-un", timeout=30).strip()
        if user != "app":
            problems.append("the function runs as %r, want the non-root app user" % user)
        health = podman("healthcheck", "run", c.name, check=False, timeout=30)
        if health.returncode != 0:
            problems.append("HEALTHCHECK failed: %s" % health.stdout.decode().strip())
        try:
            problems += exchange.SendForged(c.port)
            problems += exchange.SendSigned(c.port)
            if not problems:
                harness.WaitFor(lambda: exchange.SignedEventValue() in c.Logs(), 15,
                                "the handler's log line for the signed request", interval=0.2)
                problems += exchange.CheckNeverRan(c.Logs(), c.Metrics())
        except (OSError, AssertionError) as e:  # a dropped connection, a timeout
            problems.append("%s: %s" % (type(e).__name__, e))
        if problems:
            problems.append("logs:\n" + c.Logs())
    if problems:
        raise AssertionError("\n".join(problems))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--watchdog", required=True, help="the static hmac-watchdog binary")
    parser.add_argument("--state", required=True, help="podman storage and scratch folder")
    args = parser.parse_args()
    binary = os.path.abspath(args.watchdog)
    state = os.path.abspath(args.state)
    os.makedirs(state, exist_ok=True)
    podman = Podman(state)
    steps = Steps()
    # This run's build contexts and secret folders; podman's storage stays for the next run.
    shutil.rmtree(os.path.join(state, "work"), ignore_errors=True)
    work = os.path.join(state, "work")
    os.makedirs(work)

    steps.Run("podman works with runc and this test's storage",
              lambda: podman.Out("info", "--format", "{{.Store.GraphDriverName}}"),
              required=True)
    steps.Run("containers left by an interrupted run are removed", RemoveLeftovers, podman)
    steps.Run("the debian:bookworm base image exists (debootstrap + podman import)",
              EnsureDebianImage, podman, state, required=True)
    steps.Run("the top-level Dockerfile builds %s" % WATCHDOG_IMAGE, BuildWatchdogImage,
              podman, work, binary, required=True)
    steps.Run("the image is FROM scratch with only the static /fwatchdog and /hmac-watchdog",
              CheckScratchImage, podman, work)
    steps.Run("the base image answers a signed request and refuses a forged one",
              RunBaseImage, podman, work, binary)

    functions = [harness.TemplateFunction(n) for n in harness.TEMPLATE_NAMES]
    functions += [harness.ExampleFunction(n) for n in harness.EXAMPLE_NAMES]
    for function in functions:
        image = steps.Run("%s: the image builds (with its build-time tests)" % function.name,
                          BuildFunctionImage, podman, work, function)
        if image:
            steps.Run("%s: the container answers a signed request (200) and refuses a forged "
                      "one (401, the handler never ran)" % function.name,
                      RunFunctionImage, podman, work, function, image, binary)
    shutil.rmtree(work, ignore_errors=True)
    return steps.Summary()


if __name__ == "__main__":
    sys.exit(main())
