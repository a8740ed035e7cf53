"""StepHandler: which arguments a step's handler takes, without ``inspect`` on the way."""

from __future__ import annotations

import inspect
from itertools import combinations

import pytest

from fuzzer.targets.base import StepHandler


def _one(owner, pdu, size=1):
    return ("one", pdu, size)


def _none(owner, wait=0.5, *, flag=False):
    return ("none", wait, flag)


def _two(owner, cid, payload):
    return ("two", cid, payload)


def _keyword(owner, *, peer):
    return ("keyword", peer)


def _variadic(owner, first=0, **extra):
    return ("variadic", first, extra)


def _positional(owner, value, /, more=2):
    return ("positional", value, more)


@pytest.mark.parametrize("func", [_one, _none, _two, _keyword, _variadic, _positional])
def test_accepts_and_call_agree_with_binding_the_arguments(func) -> None:
    handler = StepHandler(func)
    names = ["pdu", "size", "wait", "flag", "cid", "payload", "peer", "first", "value", "more"]
    for n in range(4):
        for keys in combinations(names, n):
            args = {k: i for i, k in enumerate(keys)}
            try:
                inspect.signature(func).bind(None, **args)
                binds = True
            except TypeError:
                binds = False
            if handler.plain:  # only named parameters: accepts says exactly what binds
                assert handler.accepts(args) == binds, (func.__name__, args)
            elif handler.accepts(args):
                assert binds, (func.__name__, args)
            if binds:
                handler.explain(args)  # no error
                assert handler.call("owner", args) == func("owner", **args)
            else:
                with pytest.raises(TypeError):
                    handler.explain(args)
