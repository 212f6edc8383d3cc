"""One sandbox worker process (started by engine.sandbox; `python -m engine.sandbox_worker MB DEPTH`).

It imports the restricted script engine, limits itself (no core files, an address space of
its current size plus MB megabytes, the recursion limit DEPTH), says it is ready, then
answers requests one at a time until its stdin closes:

    {"mode": "eval"|"exec", "source": str, "context": ..., "external": ..., "timeout": s}
    -> {"ok": true, "value": ...} (eval) | {"ok": true, "context": ...} (exec)
    -> {"ok": false, "error": {"type", "builtin", "args", "message", "lineno"}}
    -> {"memory": true}, after which the worker exits

Each request runs under `RestrictedScriptEnvironment` in this process (the same policy,
guards and time limit as in the server) with a CPU-time limit of its timeout plus a second.
"""
from __future__ import annotations

import os
import resource
import sys
import traceback

_MEMORY_REPLY = b'\x00\x00\x00\x0f{"memory":true}'


def _address_space() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmSize in /proc/self/status")


def _limit_cpu(timeout: float) -> None:
    used = resource.getrusage(resource.RUSAGE_SELF)
    soft = int(used.ru_utime + used.ru_stime + timeout) + 2
    hard = resource.getrlimit(resource.RLIMIT_CPU)[1]
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))


def _describe(err: BaseException) -> dict:
    from engine.scripting import ScriptError

    lineno = err.lineno if isinstance(err, ScriptError) else None
    if lineno is None:
        for frame in traceback.extract_tb(err.__traceback__):
            if frame.filename == "<string>":    # the script's own frames (scripting._FILENAME)
                lineno = frame.lineno
    args = [a for a in err.args if a is None or isinstance(a, (str, int, float, bool))]
    return {
        "type": type(err).__name__,
        "builtin": type(err).__module__ == "builtins",
        "args": args if len(args) == len(err.args) else [str(err)],
        "message": str(err),
        "lineno": lineno,
    }


def _handle(environment, request: dict) -> dict:
    from engine.sandbox import Unencodable, decode, encode

    environment.timeout = float(request["timeout"])
    _limit_cpu(environment.timeout)
    context, external = decode(request["context"]), decode(request["external"])
    source = request["source"]
    try:
        if request["mode"] == "eval":
            value = environment.evaluate(source, context, external)
            try:
                return {"ok": True, "value": encode(value)}
            except (Unencodable, RecursionError) as err:
                raise _unusable(f"expression result cannot be used ({err})") from None
        environment.execute(source, context, external)
        encoded = {}
        for name, value in context.items():
            try:
                encoded[name] = encode(value)
            except (Unencodable, RecursionError) as err:
                raise _unusable(f"variable '{name}' cannot be stored in task data ({err})") from None
        return {"ok": True, "context": encoded}
    except MemoryError:
        raise
    except Exception as err:
        return {"ok": False, "error": _describe(err)}


def _unusable(message: str):
    from engine.scripting import ScriptError
    return ScriptError(message)


def main(argv: list[str]) -> int:
    memory_mb, recursion_limit = int(argv[1]), int(argv[2])
    # The protocol gets private descriptors; fd 0/1 are pointed away from it.
    requests, replies = os.dup(0), os.dup(1)
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)
    os.close(null)

    from engine.sandbox import read_message, write_message
    from engine.scripting import RestrictedScriptEnvironment

    environment = RestrictedScriptEnvironment()
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    limit = _address_space() + memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    sys.setrecursionlimit(recursion_limit)
    write_message(replies, {"ready": True, "pid": os.getpid()})

    while True:
        request = read_message(requests)
        if request is None:
            return 0
        out_of_memory = False
        try:
            reply = _handle(environment, request)
        except MemoryError:
            out_of_memory = True
        if not out_of_memory:
            try:
                write_message(replies, reply)
                continue
            except MemoryError:
                pass
        # The script's objects are gone with its frames; answer with bytes made in advance
        # and leave: the pool starts a fresh worker with an unfragmented heap.
        reply = None
        os.write(replies, _MEMORY_REPLY)
        os._exit(0)


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv))
    except (BrokenPipeError, KeyboardInterrupt):    # the server went away mid-reply
        os._exit(1)
