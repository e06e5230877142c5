# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A cache of compiled Jinja templates for ansible-core 2.19+, in memory and on disk.

ansible-core compiles every template string each time it is used, in a worker process that lives for
one task on one host; with ten instances, each with a few hundred lines of templates and validation
expressions, compiling is a third of a site.yml run. Compiling is a pure function of the source text
and the settings that drive Jinja's lexer and code generator, so its result (a Python code object)
can be kept, like Python keeps byte code in __pycache__:

* in memory, for the rest of the process (and of the worker processes it forks later);
* on disk, under ``$XDG_CACHE_HOME/governed-odoo/jinja/<versions>/`` (``GOVERNED_ODOO_TEMPLATE_CACHE``
  names another directory, or ``off`` disables the cache), one marshalled code object per source,
  written atomically, so that the next worker and the next run load it instead of compiling.

The key is the SHA-256 of the source, every compile-time setting of the environment, Ansible's
compile context (backslash escaping, embedded templates) and the versions of Python, Jinja and
ansible-core; anything the cache cannot key on (template debugging, raw output, node input) is
compiled as usual. If ansible-core's internals are not the ones this was written for, ``install()``
changes nothing and returns False.
"""

from __future__ import annotations

import hashlib
import marshal
import os
import sys
import tempfile

_installed = False


def _cache_dir(versions):
    setting = os.environ.get("GOVERNED_ODOO_TEMPLATE_CACHE", "")
    if setting.lower() in ("off", "0", "false", "no"):
        return None
    base = setting or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "governed-odoo", "jinja"
    )
    tag = hashlib.sha256(repr(versions).encode()).hexdigest()[:16]
    return os.path.join(base, tag)


def install():
    """Patch AnsibleEnvironment.compile with the cache, once per process. True when active."""
    global _installed
    if _installed:
        return True
    try:
        import jinja2
        from ansible import release
        from ansible._internal._templating import _jinja_bits
        from ansible._internal._templating._jinja_bits import AnsibleEnvironment, _TemplateCompileContext
        from ansible._internal._templating._jinja_common import _TemplateConfig
    except ImportError:
        return False
    original = getattr(AnsibleEnvironment, "compile", None)
    if original is None or not hasattr(AnsibleEnvironment, "_debuggable_template_source"):
        return False

    versions = (sys.version, jinja2.__version__, release.__version__, _jinja_bits.__name__)
    directory = _cache_dir(versions)
    memory = {}

    def settings(env):
        return (
            type(env).__qualname__,
            getattr(env.code_generator_class, "__qualname__", ""),
            env.block_start_string,
            env.block_end_string,
            env.variable_start_string,
            env.variable_end_string,
            env.comment_start_string,
            env.comment_end_string,
            env.line_statement_prefix,
            env.line_comment_prefix,
            env.trim_blocks,
            env.lstrip_blocks,
            env.newline_sequence,
            env.keep_trailing_newline,
            env.optimized,
            env.is_async,
            tuple(sorted(env.extensions)),
        )

    def cached_compile(self, source, name=None, filename=None, raw=False, defer_init=False):
        if raw or not isinstance(source, str) or self._debuggable_template_source:
            return original(self, source, name, filename, raw, defer_init)
        ctx = _TemplateCompileContext.current(optional=True)
        key_material = (
            repr(
                (
                    settings(self),
                    name,
                    filename,
                    defer_init,
                    bool(ctx and ctx.escape_backslashes),
                    bool(_TemplateConfig.allow_embedded_templates),
                )
            ).encode()
            + b"\0"
            + str(source).encode("utf-8", "surrogatepass")
        )
        key = hashlib.sha256(key_material).hexdigest()
        code = memory.get(key)
        if code is not None:
            return code
        path = os.path.join(directory, key[:2], key) if directory else None
        if path:
            try:
                with open(path, "rb") as fh:
                    code = marshal.load(fh)  # noqa: S302 - our own cache directory (0700), written by this code
            except (OSError, EOFError, ValueError, TypeError):
                code = None
        if code is None:
            code = original(self, source, name, filename, raw, defer_init)
            if path:
                _store(path, code)
        memory[key] = code
        return code

    cached_compile.__wrapped__ = original
    AnsibleEnvironment.compile = cached_compile
    _installed = True
    return True


def _store(path, code):
    try:
        parent = os.path.dirname(path)
        os.makedirs(parent, mode=0o700, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                marshal.dump(code, fh)
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
    except (OSError, ValueError):
        pass  # a cache that cannot be written is only slower
