"""What the interop tests share: the real faas-cli (../shared/peers/faas-cli-0.18.12, when
this machine has it), a git repository holding the working tree as it is now (faas-cli
`template pull` clones a git repository; uncommitted changes count), and git's `insteadOf`
so that the repository's public URL, as printed in the READMEs, reaches that copy.

Standard library only."""
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "templates"))
import harness  # noqa: E402
import template_test  # noqa: E402  (LocalFunction: a template built and run on this machine)

SOURCE_DIR = harness.SOURCE_DIR
PUBLIC_URL = "https://github.com/hmac-watchdog/hmac-watchdog"
FAAS_CLI = os.environ.get("HW_FAAS_CLI") or os.path.normpath(
    os.path.join(SOURCE_DIR, "..", "shared", "peers", "faas-cli-0.18.12"))


def FaasCliOrSkip(test_name):
    """The faas-cli path, or exits 0 after printing why the test is skipped."""
    if not os.access(FAAS_CLI, os.X_OK):
        print("%s: skipped: no faas-cli at %s (a real faas-cli is needed; set HW_FAAS_CLI)" % (
            test_name, FAAS_CLI))
        sys.exit(0)
    if not shutil.which("git"):
        print("%s: skipped: no git (faas-cli template pull clones with it)" % test_name)
        sys.exit(0)
    return FAAS_CLI


def UseWatchdog(binary):
    binary = os.path.abspath(binary)
    if not os.access(binary, os.X_OK):
        sys.exit("no hmac-watchdog binary at %s" % binary)
    template_test.WATCHDOG = binary
    return binary


def RepositoryCopy(dest):
    """A git repository at dest with one commit holding the working tree's files as they are
    now: tracked files (as on disk) and untracked ones that .gitignore does not exclude."""
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                           cwd=SOURCE_DIR, check=True, stdout=subprocess.PIPE).stdout
    os.makedirs(dest)
    for rel in sorted(set(f for f in files.decode().split("\0") if f)):
        src = os.path.join(SOURCE_DIR, rel)
        out = os.path.join(dest, rel)
        if not os.path.lexists(src):
            continue  # deleted in the working tree
        os.makedirs(os.path.dirname(out), exist_ok=True)
        if os.path.islink(src):
            os.symlink(os.readlink(src), out)
        elif os.path.isfile(src):
            shutil.copy2(src, out)
    git = ["git", "-c", "user.name=interop", "-c", "user.email=interop@localhost",
           "-c", "init.defaultBranch=main", "-c", "commit.gpgsign=false"]
    for cmd in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "working tree"]):
        subprocess.run(git + cmd, cwd=dest, check=True, stdout=subprocess.DEVNULL)
    return dest


def GitConfigRedirect(path, repository):
    """A git config file that sends PUBLIC_URL to the local repository (GIT_CONFIG_GLOBAL)."""
    with open(path, "w") as f:
        f.write('[url "%s"]\n\tinsteadOf = %s\n[user]\n\tname = interop\n\temail = i@localhost\n'
                '[init]\n\tdefaultBranch = main\n' % (repository, PUBLIC_URL))
    return path


def Environment(home, gitconfig, extra_path=None):
    """A clean environment for faas-cli: its own HOME (faas-cli keeps ~/.openfaas there)."""
    os.makedirs(home, exist_ok=True)
    env = {"HOME": home, "PATH": (extra_path + ":" if extra_path else "") + os.environ.get(
        "PATH", harness.DEBIAN_PATH), "GIT_CONFIG_GLOBAL": gitconfig, "LANG": "C.UTF-8",
        "GIT_TERMINAL_PROMPT": "0"}
    for k in ("TMPDIR",):
        if k in os.environ:
            env[k] = os.environ[k]
    return env


def Run(cmd, cwd, env, input=None, timeout=120):
    """(exit code, stdout and stderr together) of one command."""
    done = subprocess.run(cmd, cwd=cwd, env=env, input=input, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, timeout=timeout)
    return done.returncode, done.stdout.decode(errors="replace")
