# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A git working copy, through the ``git`` command: read one directory as committed, commit one directory.

What is compared is the directory as committed at HEAD, not as it lies on disk: a run commits exactly when the
directory it wants differs from the last commit, so a rerun with nothing new commits nothing. Instances of one
run write the same repository at once (one task per instance, in parallel), so every read-write-commit holds an
exclusive lock on a file inside the git directory. With a remote, each run pushes the branch to it under that same
lock, so that the repository the controller reads holds every commit (a push that failed is retried by the next run).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
from pathlib import Path

from ansible_collections.governed.odoo.plugins.module_utils import proc
from ansible_collections.governed.odoo.plugins.module_utils.gitops import GitopsError

LOCK_NAME = "governed-odoo-gitops.lock"
DEFAULT_AUTHOR = "governed.odoo <governed-odoo@localhost>"


class Repository:
    def __init__(self, path, git="git"):
        self.path = Path(path)
        self.git_bin = shutil.which(git) or git
        if not self.path.is_dir():
            raise GitopsError(f"the GitOps repository {path} is not a directory (clone it first)", repository=str(path))
        top = self._git("rev-parse", "--show-toplevel", what="find the repository").strip()
        if Path(top).resolve() != self.path.resolve():
            raise GitopsError(f"{path} is not the top of a git working copy (that is {top})", repository=str(path))
        self.git_dir = Path(self._git("rev-parse", "--absolute-git-dir", what="find the git directory").strip())

    def _git(self, *args, what, env=None, ok=(0,)):
        try:
            res = proc.run(
                [self.git_bin, "-C", str(self.path), *args],
                capture_output=True,
                env=env,
                text=True,
                encoding="utf-8",
                errors="surrogateescape",
                check=False,
            )
        except OSError as exc:
            raise GitopsError(f"cannot run git to {what}: {exc}", repository=str(self.path)) from None
        if res.returncode not in ok:
            raise GitopsError(
                f"git could not {what}: {(res.stderr or res.stdout).strip()[-2000:]}", repository=str(self.path)
            )
        return res.stdout if ok == (0,) else res

    @contextlib.contextmanager
    def locked(self):
        with open(self.git_dir / LOCK_NAME, "a", encoding="utf-8") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield self
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def head(self):
        """The commit HEAD names, or None in a repository without commits."""
        res = self._git("rev-parse", "--verify", "--quiet", "HEAD^{commit}", what="read HEAD", ok=(0, 1))
        return res.stdout.strip() or None if res.returncode == 0 else None

    def committed(self, rel):
        """The files directly in directory ``rel`` as committed at HEAD (name -> text)."""
        if self.head() is None:
            return {}
        listing = self._git("ls-tree", "-z", "HEAD", "--", f"{rel}/", what=f"list {rel}")
        out = {}
        for entry in filter(None, listing.split("\0")):
            info, path = entry.split("\t", 1)
            if info.split()[1] != "blob":
                continue
            out[path.rsplit("/", 1)[-1]] = self._git("cat-file", "blob", f"HEAD:{path}", what=f"read {path}")
        return out

    def commit_dir(self, rel, files, message, author=DEFAULT_AUTHOR):
        """Make directory ``rel`` hold exactly ``files`` (name -> text) and commit it alone; the new commit id, or
        None when the directory already was so at HEAD."""
        target = self.path / rel
        target.mkdir(parents=True, exist_ok=True)
        for entry in target.iterdir():
            if entry.name not in files:
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry)
                else:
                    entry.unlink()
        for name, text in files.items():
            path = target / name
            if not path.is_file() or path.read_text(encoding="utf-8", errors="surrogateescape") != text:
                tmp = path.with_name(f".{name}.tmp")
                tmp.write_text(text, encoding="utf-8", errors="surrogateescape")
                os.replace(tmp, path)
        self._git("add", "--all", "--", rel, what=f"stage {rel}")
        staged = self._git("diff", "--cached", "--quiet", "--", rel, what=f"compare {rel}", ok=(0, 1))
        if staged.returncode == 0 and self.head() is not None:
            return None
        name, _sep, email = author.partition("<")
        env = dict(
            os.environ,
            GIT_AUTHOR_NAME=name.strip(),
            GIT_AUTHOR_EMAIL=email.rstrip(">").strip(),
            GIT_COMMITTER_NAME=name.strip(),
            GIT_COMMITTER_EMAIL=email.rstrip(">").strip(),
        )
        self._git("commit", "--quiet", "--no-verify", "-m", message, "--", rel, what=f"commit {rel}", env=env)
        return self._git("rev-parse", "HEAD", what="read the new commit").strip()

    def push(self, remote):
        """Push the current branch to ``remote`` (a remote's name or URL of the working copy) under the same name:
        a fast-forward only, never forced (a remote that moved ahead is refused, the working copy is left as it is).
        Returns the branch pushed."""
        branch = self._git("symbolic-ref", "--quiet", "--short", "HEAD", what="find the current branch").strip()
        self._git(
            "push", "--quiet", "--porcelain", remote, f"HEAD:refs/heads/{branch}", what=f"push {branch} to {remote}"
        )
        return branch
