"""OCI hooks that run in the runtime's namespaces: prestart, createRuntime,
poststart, poststop.  (createContainer and startContainer run inside the
container; the shim runs those, see plan.py's "hook" steps.)

Each hook gets the container's state JSON on stdin, its own args and env
(without env it inherits minioci's, as with runc), and is killed after its
timeout.  prestart and createRuntime failures abort the create; poststart and
poststop failures are logged and the lifecycle goes on, as the runtime-spec
says.
"""
from . import OCI_VERSION, leanjson, log
from .errors import MiniociError, strerror


def state_json(cid, status, pid, bundle, annotations):
    """The runtime-spec state document hooks receive."""
    return leanjson.dumps({"ociVersion": OCI_VERSION, "id": cid, "status": status, "pid": pid,
                           "bundle": bundle, "annotations": annotations or {}})


def as_dicts(hooks):
    """The hooks of a Spec as plain dicts, to keep in state.json for the
    stages that run after `create` (poststart, poststop)."""
    return {stage: [{"path": h.path, "args": h.args, "env": h.env, "timeout": h.timeout} for h in lst]
            for stage, lst in hooks.items() if lst}


def run(hooks, stage, state, fatal):
    """Run hooks[stage] (dicts) in order with `state` on stdin."""
    todo = hooks.get(stage) or []
    if not todo:
        return
    import subprocess       # ~15 ms: only when there is a hook to run
    for i, h in enumerate(todo):
        name = f"{stage}[{i}] {h['path']}"
        try:
            r = subprocess.run(h["args"] or [h["path"]], executable=h["path"], input=state.encode(),
                               env=_env(h["env"]) if h["env"] else None, timeout=h["timeout"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            problem = None if r.returncode == 0 else \
                f"exited with status {r.returncode}" + (f": {r.stderr.decode(errors='replace').strip()}"
                                                        if r.stderr.strip() else "")
        except subprocess.TimeoutExpired:
            problem = f"did not finish within {h['timeout']}s"
        except OSError as e:
            problem = strerror(e.errno)
        if problem is None:
            continue
        if fatal:
            raise MiniociError(f"hook {name}: {problem}")
        log.warning(f"hook {name}: {problem}")


def _env(entries):
    return dict(e.split("=", 1) for e in entries if "=" in e)


def child_steps(spec, stage, state_index):
    """Plan steps that run spec.hooks[stage] inside the container."""
    return [dict(op="hook", phase=f"hooks.{stage}", path=h.path, args=h.args, env=h.env,
                 timeout=h.timeout or 0, state=state_index, name=f"{stage}[{i}] {h.path}")
            for i, h in enumerate(spec.hooks.get(stage) or [])]
